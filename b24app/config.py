"""The one Settings object, read once from ``B24APP_*`` environment variables."""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-change-me"
MIN_SECRET_KEY = 12


class Settings(BaseSettings):
    """Deployment settings; secrets are SecretStr so they never print."""

    model_config = SettingsConfigDict(env_prefix="B24APP_", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    public_url: str = "http://127.0.0.1:5000"
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    bx24_js_url: str = "//api.bitrix24.com/api/v1/"
    uninstall_settle: float = (
        60.0  # seconds every ONAPPUNINSTALL must agree on CLEAN before data goes
    )
    oauth_servers: str = "https://oauth.bitrix.info,https://oauth.bitrix24.tech"
    # Redis through Sentinel: "host:port,host:port" and the primary's name; redis_url's db and password apply
    redis_sentinels: str = ""
    redis_sentinel_master: str = "blago24"
    # replicas that must hold an acknowledged delivery or a rotated token before we go on (Redis WAIT)
    redis_replicas: int = 0
    redis_wait_ms: int = 1000
    ops_password: SecretStr = SecretStr("")  # /metrics (Bearer) and the RQ dashboard (basic auth)
    smtp_private_hosts: bool = (
        False  # letters' SMTP may be on private/loopback addresses (own relay; tests)
    )
    backup_key: SecretStr = SecretStr("")  # encrypts `b24app portals export` files (backup.py)
    json_logs: bool = True  # the web app and workers log JSON; the CLI's own messages stay plain
    # the CloudPayments API: reconcile, backfill, subscription cancel (tests: a stand-in)
    cloudpayments_api_url: str = "https://api.cloudpayments.ru"
    timepad_api_url: str = "https://api.timepad.ru"  # the demo: the sandbox world's fake Timepad


def unsafe_secret_key(settings: Settings, english: bool = False) -> str | None:
    """Why this secret key must not serve portals (one line for the operator), or None when it may."""
    key = settings.secret_key.get_secret_value()
    if key == DEV_SECRET_KEY:
        return (
            "B24APP_SECRET_KEY is not set: anyone could forge the app's forms and read its records"
            if english
            else "B24APP_SECRET_KEY не задан: с ключом по умолчанию любой подделает формы приложения и прочтёт его записи"
        )
    if len(key) < MIN_SECRET_KEY:
        return (
            f"B24APP_SECRET_KEY is shorter than {MIN_SECRET_KEY} characters"
            if english
            else f"B24APP_SECRET_KEY короче {MIN_SECRET_KEY} символов"
        )
    return None
