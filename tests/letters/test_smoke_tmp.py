from tests.letters.conftest import *  # noqa

def test_smoke(fund):
    fund.pay("7001")
    fund.app.run_jobs()
    print(fund.outbox())
    print(fund.thanks("7001"))
