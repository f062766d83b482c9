"""Sandbox REST methods about the calling app: ``app.info`` (``app.option.*`` to come)."""

from ..call import Call, Method


def app_info(call: Call) -> dict:
    """Who the token belongs to and whether the install was finished (INSTALLED)."""
    app = call.require_app()
    inst = call.portal.install(app["client_id"]) or {}
    return {
        "ID": app["id"],
        "CODE": app["code"],
        "VERSION": app["version"],
        "STATUS": "L",
        "INSTALLED": bool(inst.get("installed")),
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LANGUAGE_ID": "ru",
        "LICENSE": "ru_project",
        "LICENSE_TYPE": "project",
        "LICENSE_FAMILY": "project",
        "client_id": app["client_id"],
        "member_id": call.portal.member_id,
        "domain": call.portal.domain,
        "scope": app["scopes"],
    }


METHODS = [Method("app.info", app_info)]
