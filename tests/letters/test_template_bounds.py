"""A fund's template runs in the shared workers for every donor of every portal: jinja2's sandbox caps
range() but not nested loops, repetition, padding or powers, so the letters' environment refuses them
at save (a loop hidden behind a condition on the donor's name included), with the line and a reason."""

import pytest

from b24app.letters.render import MAX_OUTPUT, TemplateRefused, render_part

VALUES = {"donor_name": "Анна", "amount": "1 500,00 ₽"}
RUNAWAY = [
    "{% if donor_name != 'Анна' %}{% for i in range(999) %}{% for j in range(999) %}x{% endfor %}{% endfor %}{% endif %}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{{ 'x' * 100000000 }}",
    "{{ ('x' * 1000) * 1000 }}",
    "{{ 2 ** 100000 }}",
    "{{ 'x'.center(100000000) }}",
    "{{ 'x'|center(100000000) }}",
    "{{ ('x\\nx')|indent(100000000) }}",
    "{{ '%100000000s' % 'x' }}",
    "{{ '%100000000s'|format('x') }}",
    "{{ '{:>100000000}'.format('x') }}",
    "{{" + "(" * 3000 + "1" + ")" * 3000 + "}}",
]


@pytest.mark.parametrize("source", RUNAWAY, ids=range(len(RUNAWAY)))
def test_a_runaway_template_is_refused(source):
    with pytest.raises(TemplateRefused) as refused:
        render_part("body", source, VALUES)
    assert refused.value.reason


def test_what_a_fund_writes_still_renders():
    """Conditions, filters, concatenation and small formatting stay allowed."""
    source = ("{% if donor_name %}Здравствуйте, {{ donor_name|title }}!{% else %}Здравствуйте!{% endif %} "
              "Спасибо за {{ amount }}. {{ '%s раз' % 3 }} {{ '{} и {}'.format('мы', 'вы') }} {{ '-' * 20 }}")  # fmt: skip
    text = render_part("body", source, VALUES)
    assert text.startswith("Здравствуйте, Анна! Спасибо за 1 500,00 ₽. 3 раз мы и вы ---")
    assert len(text) < MAX_OUTPUT
