"""Robots (automation rules): one module per robot, listed in ROBOTS, served by one route.

Every robot call is checked against the portal's stored member_id and application_token before the
robot is even looked up (bitrix24-rest.md §5.2).
"""

from flask import Blueprint, jsonify, request

from b24app import context
from b24app.inbound import check_portal, unflatten

ROBOTS: dict = {}  # code → robot module; none yet

bp = Blueprint("robots", __name__)


@bp.post("/robots/<code>")
def run_robot(code: str):
    """Verify → look up the robot → (queue its work) → 200."""
    form = unflatten(request.form.items(multi=True))
    auth = form.get("auth") if isinstance(form.get("auth"), dict) else {}
    check_portal(context.registry(), auth.get("member_id", ""), auth.get("application_token", ""))
    robot = ROBOTS.get(code)
    if robot is None:
        return jsonify(error="UNKNOWN_ROBOT", message=f"no robot {code!r} in this app"), 404
    return robot.receive(form)
