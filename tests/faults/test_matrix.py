"""Every flow × every portal fault (tests/faults/matrix.py): whatever the portal answers, each accepted
donation, participant, letter, total, merge and lesson reminder ends in the portal exactly once."""

import pytest

from .matrix import BY_FAULT, CELLS, RESULTS, run_cell


@pytest.mark.parametrize(("flow", "fault"), CELLS, ids=[f"{a}-{b}" for a, b in CELLS])
def test_cell(lab, flow, fault):
    n = CELLS.index((flow, fault))
    try:
        RESULTS[(flow, fault)] = run_cell(lab, lab.flow(flow), BY_FAULT[fault], n)
    except BaseException as exc:
        RESULTS[(flow, fault)] = f"FAILED: {type(exc).__name__}: {str(exc)[:120]}".replace(
            "|", "/"
        ).replace("\n", " ")
        raise
