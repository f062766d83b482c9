"""Pages of the web app itself, for a person's browser: the error page and the root page («what is this»).

Every error a page route can meet is answered by ``error_page``: what happened and what to do next in the
user's language, the request id to quote, and the technical detail folded away. Never JSON, never a
framework page (the JSON answers of webhooks and scripts are chosen in ``b24app.wants_page``).
"""

from flask import current_app, render_template
from flask_babel import gettext as _

from .i18n import request_language


def advice(status: int) -> tuple[str, str]:
    """(title, what to do next) for an HTTP status a page can meet."""
    if status == 401:
        return _("The app could not confirm who you are"), _(
            "Your session in the app has expired or was opened elsewhere. Close the app and open it "
            "again from the portal's menu."
        )
    if status == 403:
        return _("Only a portal administrator can do this"), _(
            "Ask an administrator of your Bitrix24 portal to open the app, or to make you an administrator."
        )
    if status in (404, 405):
        return _("There is no such page"), _(
            "The address is out of date or mistyped. Open Blago24 from the left menu of your portal."
        )
    if status == 400:
        return _("The page could not read what was sent"), _(
            "Go back, check what you entered and try again. The detail below says what was wrong."
        )
    if status in (502, 503, 504):
        return _("Bitrix24 did not answer just now"), _(
            "The portal or the app's storage was briefly unavailable. Wait a minute and reload the page; "
            "if it repeats for an hour, write to the app's support quoting the request number."
        )
    return _("Something went wrong"), _(
        "We have logged the error. Please try again a little later; if it repeats, write to the app's "
        "support quoting the request number."
    )


def error_page(status: int, detail: str, request_id: str):
    """The error as a page in the user's language with the request id; ``detail`` folded under «Подробности»."""
    title, next_step = advice(status)
    html = render_template("error.html", status=status, title=title, next_step=next_step,
                           detail=detail, request_id=request_id, lang=request_language(),
                           bx24_js=current_app.config["SETTINGS"].bx24_js_url)  # fmt: skip
    return html, status, {"Content-Type": "text/html; charset=utf-8", "X-Request-Id": request_id}


def about():
    """The web app's root: what Blago24 is and how to install it into a portal."""
    settings = current_app.config["SETTINGS"]
    base = settings.public_url.rstrip("/")
    from .demo import SCOPES  # the rights the app asks for, as the demo registers it

    return render_template("about.html", handler=f"{base}/app", install=f"{base}/install",
                           scopes=", ".join(SCOPES), lang=request_language())  # fmt: skip
