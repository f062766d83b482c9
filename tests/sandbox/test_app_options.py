"""App settings storage ``app.option.*`` in the sandbox portal (bitrix24-rest.md §8)."""

from b24app.inbound import unflatten
from tests.sandbox.test_placements import user_token


def test_set_then_get_all_one_and_missing(installed_app):
    """§8 (docs api-reference/common/settings/app-option-set.md, app-option-get.md)."""
    assert installed_app.call("app.option.get").json()["result"] == []  # empty PHP array
    assert (
        installed_app.call("app.option.set", {"options": {"a": "1", "b": "2"}}).json()["result"]
        is True
    )
    installed_app.call("app.option.set", {"options": {"b": "3"}})
    assert installed_app.call("app.option.get").json()["result"] == {"a": "1", "b": "3"}
    assert installed_app.call("app.option.get", {"option": "b"}).json()["result"] == "3"
    assert installed_app.call("app.option.get", {"option": "zzz"}).json()["result"] is None


def test_refusals(portal, installed_app, recorder):
    """§8 (docs api-reference/common/settings/app-option-set.md): empty options, no app context, not an admin."""
    empty = installed_app.call("app.option.set", {"options": {}})
    assert (empty.status_code, empty.json()) == (400, {"error": "ArgumentNullException",
                                                       "error_description": "options is empty"})  # fmt: skip
    hook = portal.call("app.option.get")
    assert hook.body == {
        "error": "AccessException",
        "error_description": "Application context required",
    }
    token = user_token(portal, installed_app, recorder, "2")
    refused = installed_app.call("app.option.set", {"options": {"a": "1"}}, token=token).json()
    assert refused == {
        "error": "AccessException",
        "error_description": "Administrator authorization required",
    }
    assert installed_app.call("app.option.get", token=token).status_code == 200


def test_options_survive_uninstall_without_clean(portal, installed_app, recorder):
    """§1.4/§8 (docs settings/app-uninstallation.md): only CLEAN deletes app options."""
    installed_app.call("app.option.set", {"options": {"kept": "yes"}})
    client_id = installed_app.app["client_id"]
    portal.control("POST", "/uninstall", json={"client_id": client_id, "clean": False})
    portal.control("POST", "/install", json={"client_id": client_id, "flow": "event"})
    token = unflatten(recorder.wait(2)[-1]["form"])["auth"]["access_token"]
    assert installed_app.call("app.option.get", token=token).json()["result"] == {"kept": "yes"}
