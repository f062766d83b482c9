"""WSGI entry point."""

from b24app import create_app

app = create_app()
