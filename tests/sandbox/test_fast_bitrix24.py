"""fast-bitrix24, the client the product uses, works against the sandbox unchanged (bitrix24-rest.md §9.1)."""

from fast_bitrix24 import Bitrix


def test_get_all_over_500_contacts(portal):
    """§9.1: get_all pages with start=50,100,... in batches and returns every record."""
    b = Bitrix(portal.webhook, ssl=False, verbose=False)
    ids = b.call(
        "crm.contact.add",
        [{"fields": {"NAME": f"Донор {i}", "LAST_NAME": "Тестов"}} for i in range(520)],
    )
    assert len(ids) == 520
    contacts = b.get_all("crm.contact.list", {"select": ["ID", "NAME"]})
    assert sorted(int(c["ID"]) for c in contacts) == list(range(1, 521))
    assert portal.control("GET", "/counters")["crm.contact.list"] >= 11


def test_call_batch_with_references(portal):
    """§9.1/§2.5: call_batch sends our own batch; $result references resolve between commands."""
    b = Bitrix(portal.webhook, ssl=False, verbose=False)
    out = b.call_batch({"halt": 0, "cmd": {
        "c": "crm.contact.add?fields[NAME]=Мария&fields[EMAIL][0][VALUE]=maria@example.ru",
        "d": "crm.deal.add?fields[TITLE]=Пожертвование&fields[CONTACT_ID]=$result[c]",
        "g": "crm.deal.get?id=$result[d]",
    }})  # fmt: skip
    assert out["g"]["CONTACT_ID"] == str(out["c"])
    contact = portal.result("crm.contact.get", {"id": out["c"]})
    assert contact["EMAIL"][0]["VALUE"] == "maria@example.ru"


def test_get_all_with_limits_on(limited_portal):
    """§3.1/§9.1: with the portal's limits on, fast-bitrix24's own throttle keeps it under the bucket."""
    b = Bitrix(limited_portal.webhook, ssl=False, verbose=False)
    b.call("crm.contact.add", [{"fields": {"NAME": f"N{i}"}} for i in range(60)])
    assert len(b.get_all("crm.contact.list")) == 60
