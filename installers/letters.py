"""Donor letters on the web: the unsubscribe link's pages (no login: the link is signed) and the app
page's template editor (admins: the page's signed token), with its live preview, «вернуть текст по
умолчанию» and «Отправить тестовое письмо».

The test letter is sent inline (one REST call or one SMTP/Unisender request a person waits for, and
whose refusal the page must show in words); every donor letter goes through the urgent queue."""

from flask import Blueprint, jsonify, render_template, request

from b24app import context
from b24app.errors import BadRequest
from b24app.letters import Letter
from b24app.letters.channels import LetterRefused
from b24app.letters.preview import preview, send_test
from b24app.letters.render import TemplateRefused
from b24app.letters.store import language, reset, save
from b24app.letters.unsubscribe import claims, unsubscribe
from b24app.signing import BadSignature

from . import pages

bp = Blueprint("letters", __name__, template_folder="templates")
MAX_FIELD = 25_000


def letter_of(form) -> Letter:
    try:
        return Letter(form.get("kind", ""))
    except ValueError:
        raise BadRequest(f"kind must be one of {', '.join(Letter)}") from None


def parts(form) -> dict[str, str]:
    subject, body = form.get("subject", ""), form.get("body", "")
    if len(subject) > MAX_FIELD or len(body) > MAX_FIELD:
        raise BadRequest(f"subject and body are limited to {MAX_FIELD} characters")
    return {"subject": subject, "body": body}


@bp.post("/app/letters/preview")
def preview_letter():
    """The edited letter rendered on the latest donation: JSON subject and html, or the error with its line."""
    portal = pages.portal_of(request.form.get("token", ""), pages.PURPOSE)
    try:
        shown = preview(portal, letter_of(request.form), parts(request.form))
    except TemplateRefused as exc:
        return jsonify(ok=False, error=str(exc), line=exc.line)
    return jsonify(ok=True, subject=shown.subject, html=shown.html)


@bp.post("/app/letters/save")
def save_letter():
    """Save the fund's template, or refuse it (nothing saved) with the line and the reason."""
    token = request.form.get("token", "")
    portal = pages.portal_of(token, pages.PURPOSE)
    letter, edited = letter_of(request.form), parts(request.form)
    try:
        save(portal, letter, edited["subject"], edited["body"])
    except TemplateRefused as exc:
        return page(portal, token, letter, error=str(exc), edited=edited)
    return page(portal, token, letter, notice="saved")


@bp.post("/app/letters/reset")
def reset_letter():
    """«Вернуть текст по умолчанию»: the fund's template for the kind is forgotten."""
    token = request.form.get("token", "")
    portal = pages.portal_of(token, pages.PURPOSE)
    letter = letter_of(request.form)
    reset(portal.member_id, letter)
    return page(portal, token, letter, notice="reset")


@bp.post("/app/letters/test")
def test_letter():
    """«Отправить тестовое письмо»: sent now through the portal's channel; a refusal shown in words."""
    token = request.form.get("token", "")
    portal = pages.portal_of(token, pages.PURPOSE)
    letter = letter_of(request.form)
    try:
        send_test(portal, letter, request.form.get("to", ""))
    except (LetterRefused, TemplateRefused) as exc:
        return page(portal, token, letter, test_error=str(exc))
    except Exception as exc:  # a network failure: worth saying, not a 500
        return page(
            portal,
            token,
            letter,
            test_error=f"не удалось отправить / could not send: {type(exc).__name__}",
        )
    return page(portal, token, letter, notice="test-sent")


def page(portal, token: str, letter: Letter, **state) -> str:
    return pages.render(portal, token, saved=False, lang=request.form.get("lang", "ru"),
                        letter_state={"kind": str(letter), **state})  # fmt: skip


# --- the unsubscribe link --------------------------------------------------------------------------

WORDS = {
    "ru": {"title": "Отписка от писем", "ask": "Вы больше не хотите получать от нас письма?",
           "button": "Да, отписаться", "done": "Готово: мы больше не будем присылать вам письма. Спасибо, что были с нами!",
           "bad": "Ссылка недействительна или устарела."},
    "en": {"title": "Unsubscribe", "ask": "Would you rather not receive our letters any more?",
           "button": "Yes, unsubscribe", "done": "Done: we will not send you letters any more. Thank you for being with us!",
           "bad": "This link is not valid or has expired."},
}  # fmt: skip


def link_portal(token: str):
    """The installed portal and the contact of an unsubscribe link, or None when it is not valid."""
    try:
        member_id, contact_id = claims(token)
    except (BadSignature, TypeError, ValueError):
        return None, 0
    portal = context.registry().get(member_id)
    if portal is None or portal.status == "uninstalled":
        return None, 0
    return portal, contact_id


@bp.get("/letters/unsubscribe/<token>")
def unsubscribe_page(token: str):
    """A confirm button only: mail scanners follow links, so a GET changes nothing."""
    portal, _ = link_portal(token)
    lang = language(portal) if portal else "ru"
    status = 200 if portal else 404
    return render_template(
        "unsubscribe.html", words=WORDS[lang], lang=lang, valid=bool(portal), done=False
    ), status


@bp.post("/letters/unsubscribe/<token>")
def unsubscribe_confirm(token: str):
    """The donor confirmed: no letter from now on, and «Не отправлять письма» set on the contact by a job."""
    portal, contact_id = link_portal(token)
    if portal is None:
        return render_template(
            "unsubscribe.html", words=WORDS["ru"], lang="ru", valid=False, done=False
        ), 404
    if contact_id > 0:  # 0: the link in a test letter
        unsubscribe(portal.member_id, contact_id)
    lang = language(portal)
    return render_template("unsubscribe.html", words=WORDS[lang], lang=lang, valid=True, done=True)
