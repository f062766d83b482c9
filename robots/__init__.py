"""Robots (automation rules): one module per robot, listed in ROBOTS, served by one route.

Every robot call is checked against the portal's stored member_id and application_token before the
robot is even looked up, and its access token is confirmed at the portal's OAuth server before anything
is queued (bitrix24-rest.md §5.2, b24app/robots.py).
"""

from flask import Blueprint, jsonify, request

from b24app import context, installation
from b24app.inbound import check_portal, unflatten
from b24app.robots import Robot, confirm_call, parse_call, queue_call

from . import donor_totals, lesson_reminder

ROBOTS: list[Robot] = [lesson_reminder.ROBOT, donor_totals.ROBOT]
BY_CODE = {robot.code: robot for robot in ROBOTS}

bp = Blueprint("robots", __name__)


@bp.post("/robots/<code>")
def run_robot(code: str):
    """Verify → look up the robot → parse → confirm the token → queue under event_token → 200."""
    form = unflatten(request.form.items(multi=True))
    auth = form.get("auth") if isinstance(form.get("auth"), dict) else {}
    portal = check_portal(
        context.registry(), auth.get("member_id", ""), auth.get("application_token", "")
    )
    robot = BY_CODE.get(code)
    if robot is None:
        return jsonify(error="UNKNOWN_ROBOT", message=f"no robot {code!r} in this app"), 404
    call = parse_call(form)
    robot.values(call)  # a bad property value is a 400 now, not a failed job later
    confirm_call(portal, call, installation.confirm_for)
    queued = queue_call(portal.member_id, robot, call)
    return jsonify(ok=True, queued=queued)
