"""Bitrix24 install, update and uninstall endpoints and the app's pages."""
