"""batch conformance (bitrix24-rest.md §2.5; docs settings/how-to-call-rest-api/batch.md)."""

import requests

from b24app.sandbox.phpjson import flatten


def test_five_maps_and_result_reference(portal):
    """§2.5: commands run in order; $result[cmd][FIELD] feeds a later command; the five maps come back."""
    out = portal.result("batch", {"halt": 0, "cmd": {
        "contact": "crm.contact.add?fields[NAME]=Иван&fields[LAST_NAME]=Петров",
        "deal": "crm.deal.add?fields[TITLE]=Дар&fields[CONTACT_ID]=$result[contact]",
        "read": "crm.deal.get?id=$result[deal]",
        "list": "crm.contact.list?select[]=ID&select[]=NAME",
    }})  # fmt: skip
    assert set(out) == {"result", "result_error", "result_total", "result_next", "result_time"}
    assert out["result"]["read"]["CONTACT_ID"] == str(out["result"]["contact"])
    assert out["result_total"] == {"list": 1}
    assert set(out["result_time"]) == {"contact", "deal", "read", "list"}
    assert out["result_error"] == [] and out["result_next"] == []


def test_references_to_next_and_total_and_nested_paths(portal):
    """§2.5: $next[..] and $total[..] resolve too; paths walk into lists ($result[l][0][ID])."""
    portal.result(
        "batch", {"cmd": {f"c{i}": f"crm.contact.add?fields[NAME]=N{i}" for i in range(50)}}
    )
    portal.result("crm.contact.add", {"fields": {"NAME": "N50"}})
    out = portal.result("batch", {"cmd": {
        "l": "crm.contact.list?order[ID]=ASC&select[]=ID",
        "page2": "crm.contact.list?order[ID]=ASC&select[]=ID&start=$next[l]",
        "first": "crm.contact.get?id=$result[l][0][ID]",
        "named": "crm.contact.update?id=$result[l][1][ID]&fields[NAME]=total $total[l]",
    }})  # fmt: skip
    assert out["result_next"] == {"l": 50}
    assert [r["ID"] for r in out["result"]["page2"]] == ["51"]
    assert out["result"]["first"]["ID"] == "1"
    assert portal.result("crm.contact.get", {"id": 2})["NAME"] == "total 51"


def test_missing_path_stops_at_deepest_existing_value(portal):
    """§2.5: a missing segment is no error; the walk stops at the deepest existing value."""
    out = portal.result("batch", {"cmd": {
        "c": "crm.contact.add?fields[NAME]=A",
        "u": "crm.contact.update?id=$result[c][NO][SUCH]&fields[NAME]=B",
    }})  # fmt: skip
    assert out["result"]["u"] is True  # $result[c][NO][SUCH] → $result[c] (the id)
    assert portal.result("crm.contact.get", {"id": out["result"]["c"]})["NAME"] == "B"


def test_reference_inside_a_longer_string_and_in_keys(portal):
    """§2.5: an embedded reference is replaced by the value's text; references also work in keys."""
    out = portal.result("batch", {"cmd": {
        "c": "crm.contact.add?fields[NAME]=Ann",
        "d": "crm.deal.add?fields[TITLE]=Deal for contact $result[c]",
        "l": "crm.contact.list?filter[ID]=$result[c]&select[]=ID",
    }})  # fmt: skip
    title = portal.result("crm.deal.get", {"id": out["result"]["d"]})["TITLE"]
    assert title == f"Deal for contact {out['result']['c']}"
    assert [r["ID"] for r in out["result"]["l"]] == [str(out["result"]["c"])]


def test_fifty_command_cap(portal):
    """§2.5: commands past the 50th are not run; each gets ERROR_BATCH_LENGTH_EXCEEDED; batch stays 200."""
    cmd = {f"c{i:02d}": f"crm.contact.add?fields[NAME]=N{i}" for i in range(53)}
    answer = portal.call("batch", {"cmd": cmd})
    assert answer.status == 200
    out = answer.body["result"]
    assert len(out["result"]) == 50
    assert set(out["result_error"]) == {"c50", "c51", "c52"}
    assert out["result_error"]["c50"] == {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                          "error_description": "Max batch length exceeded"}  # fmt: skip
    assert portal.call("crm.contact.list").body["total"] == 50


def test_halt_stops_after_first_error(portal):
    """§2.5: halt=1 stops after the first failing command (its error recorded); halt=0 runs on."""
    cmd = {"a": "crm.contact.get?id=999", "b": "crm.contact.add?fields[NAME]=X"}
    halted = portal.result("batch", {"halt": 1, "cmd": cmd})
    assert list(halted["result_error"]) == ["a"] and halted["result"] == []
    assert portal.call("crm.contact.list").body["total"] == 0
    ran = portal.result("batch", {"halt": 0, "cmd": cmd})
    assert "a" in ran["result_error"] and isinstance(ran["result"]["b"], int)


def test_nested_batch_refused(portal):
    """§2.5: batch inside batch → ERROR_BATCH_METHOD_NOT_ALLOWED in result_error."""
    out = portal.result("batch", {"cmd": {"inner": "batch?cmd[x]=server.time"}})
    assert out["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


def test_integer_keys_give_list_maps(portal):
    """§2.5: with cmd keys 0..n-1 the maps print as JSON lists (FB24 real_responses)."""
    out = portal.result("batch", {"cmd": ["crm.contact.get?id=1", "crm.contact.get?id=2"]})
    assert isinstance(out["result_error"], list) and len(out["result_error"]) == 2


def test_form_encoded_batch_with_double_encoded_commands(portal):
    """§2.5: in a form request each cmd string is itself URL-encoded (double encoding); upper-case CMD/HALT work."""
    body = flatten({"HALT": 0, "CMD": {"a": "crm.contact.add?fields%5BNAME%5D=%D0%AF%D0%BD%D0%B0"}})
    resp = requests.post(portal.webhook + "batch", data=body, timeout=10)
    new_id = resp.json()["result"]["result"]["a"]
    assert portal.result("crm.contact.get", {"id": new_id})["NAME"] == "Яна"


def test_unknown_method_inside_batch(portal):
    """§2.5: a command's own error goes to result_error; the others still run."""
    out = portal.result("batch", {"cmd": {"x": "no.such.method", "y": "server.time"}})
    assert out["result_error"]["x"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert "y" in out["result"]
