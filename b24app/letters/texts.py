"""The default letters in Russian and English, the kinds' titles, the variables a template may use and
CloudPayments' failure reasons in words (external-services.md §3.1, ``ErrorCodes`` of izatop/cloudpayments)."""

from . import Letter

GREETING = {"ru": "Здравствуйте{% if donor_name %}, {{ donor_name }}{% endif %}!",
            "en": "Dear {{ donor_name or 'friend' }},"}  # fmt: skip
SIGNATURE = {"ru": "С благодарностью,\n{{ fund }}", "en": "With gratitude,\n{{ fund }}"}

DEFAULTS: dict[str, dict[Letter, tuple[str, str]]] = {
    "ru": {
        Letter.WELCOME_ONE_TIME: ("Спасибо за ваше пожертвование!", """\
Мы получили ваше пожертвование {{ amount }}{% if purpose %} на «{{ purpose }}»{% endif %} от {{ date }}.
Это ваш первый вклад в нашу работу, и мы очень рады, что вы теперь с нами.

Каждое пожертвование идёт на дело, ради которого мы работаем. Мы будем рассказывать, что удалось
сделать благодаря вам и другим нашим друзьям."""),
        Letter.WELCOME_RECURRING: ("Спасибо, что поддерживаете нас каждый месяц!", """\
Вы оформили ежемесячное пожертвование {{ amount }}{% if purpose %} на «{{ purpose }}»{% endif %},
и первый платёж уже пришёл. Спасибо!

Регулярная помощь для нас — самая ценная: благодаря ей мы можем планировать работу, а не только
отвечать на срочные просьбы. Отменить подписку можно в любой момент — просто ответьте на это письмо."""),
        Letter.THANKS_AGAIN: ("Спасибо, что вы снова с нами", """\
Мы получили ваше пожертвование {{ amount }}{% if purpose %} на «{{ purpose }}»{% endif %} от {{ date }}.
Спасибо, что снова поддерживаете нашу работу — это очень важно для нас и для тех, кому мы помогаем."""),
        Letter.FAILED_ONE_TIME: ("Пожертвование не прошло", """\
Вы хотели поддержать нас пожертвованием {{ amount }}, но платёж не прошёл: {{ reason }}.

Деньги с карты не списаны. Если вы хотите попробовать ещё раз, это можно сделать на нашем сайте —
другой картой или чуть позже. Спасибо, что хотели помочь!"""),
        Letter.FAILED_RECURRING: ("Не получилось списать ежемесячное пожертвование", """\
Сегодня не получилось списать ваше ежемесячное пожертвование {{ amount }}: {{ reason }}.

Банк попробует ещё раз в ближайшие дни. Если карта сменилась или на ней недостаточно средств,
оформите пожертвование заново на нашем сайте — так ваша помощь не прервётся."""),
        Letter.REFUND: ("Мы вернули ваше пожертвование", """\
Мы вернули вам {{ amount }} — пожертвование от {{ date }}. Деньги придут на карту в течение
нескольких дней, в зависимости от банка.

Если возврат случился по ошибке или у вас есть вопросы, просто ответьте на это письмо."""),
        Letter.SUBSCRIPTION_ENDED: ("Ваше ежемесячное пожертвование остановлено", """\
{% if subscription_status == "Rejected" %}Банк несколько раз подряд отклонил списание вашего ежемесячного \
пожертвования {{ amount }}, и подписка остановлена.{% else %}Ваше ежемесячное пожертвование {{ amount }} \
отменено.{% endif %}

Спасибо за всё, что вы уже сделали вместе с нами. Если захотите снова помогать регулярно, оформить
пожертвование можно на нашем сайте."""),
        Letter.CARD_EXPIRING: ("Скоро закончится срок действия вашей карты", """\
Срок действия карты{% if card %} {{ card }}{% endif %}, с которой списывается ваше ежемесячное пожертвование,
заканчивается {{ card_expires }}. После этого списания прекратятся.

Чтобы ваша помощь не прервалась, оформите ежемесячное пожертвование с новой карты на нашем сайте."""),
        Letter.LAPSED: ("Мы давно не получали ваше ежемесячное пожертвование", """\
Последний платёж по вашему ежемесячному пожертвованию был {{ date }}, и с тех пор списания не проходят.

Возможно, сменилась карта или на ней не хватает средств. Если вы хотите продолжать помогать,
оформите ежемесячное пожертвование заново на нашем сайте. Мы будем очень рады!"""),
        Letter.LESSON_REMINDER: ("Напоминание: занятие {{ lesson_date }} в {{ lesson_time }}", """\
Напоминаем, что следующее занятие курса «{{ course }}» пройдёт {{ lesson_date }} в {{ lesson_time }}.

Ждём вас! Если вы не сможете прийти, пожалуйста, ответьте на это письмо."""),
    },
    "en": {
        Letter.WELCOME_ONE_TIME: ("Thank you for your donation!", """\
We have received your donation of {{ amount }}{% if purpose %} to «{{ purpose }}»{% endif %} made on {{ date }}.
It is your first gift to our work, and we are so glad to have you with us.

Every donation goes to the cause we work for. We will tell you what your support and that of our other
friends has made possible."""),
        Letter.WELCOME_RECURRING: ("Thank you for supporting us every month!", """\
You have set up a monthly donation of {{ amount }}{% if purpose %} to «{{ purpose }}»{% endif %}, and the
first payment has arrived. Thank you!

Regular support matters most to us: it lets us plan our work instead of only answering emergencies.
You can cancel at any time: just reply to this letter."""),
        Letter.THANKS_AGAIN: ("Thank you for being with us again", """\
We have received your donation of {{ amount }}{% if purpose %} to «{{ purpose }}»{% endif %} made on {{ date }}.
Thank you for supporting our work again: it means a great deal to us and to the people we help."""),
        Letter.FAILED_ONE_TIME: ("Your donation did not go through", """\
You wanted to support us with {{ amount }}, but the payment did not go through: {{ reason }}.

Nothing was charged. If you would like to try again, you can do so on our website, with another card
or a little later. Thank you for wanting to help!"""),
        Letter.FAILED_RECURRING: ("We could not charge your monthly donation", """\
Today we could not charge your monthly donation of {{ amount }}: {{ reason }}.

The bank will try again in the next few days. If your card has changed or has too little on it, please
set up the donation again on our website so that your support carries on."""),
        Letter.REFUND: ("We have refunded your donation", """\
We have refunded {{ amount }}, your donation of {{ date }}. The money will reach your card within a few
days, depending on your bank.

If the refund was a mistake or you have questions, just reply to this letter."""),
        Letter.SUBSCRIPTION_ENDED: ("Your monthly donation has stopped", """\
{% if subscription_status == "Rejected" %}The bank declined your monthly donation of {{ amount }} several \
times in a row, and the subscription has stopped.{% else %}Your monthly donation of {{ amount }} has been \
cancelled.{% endif %}

Thank you for everything you have done with us. Should you wish to give regularly again, you can set up
a donation on our website."""),
        Letter.CARD_EXPIRING: ("Your card expires soon", """\
The card{% if card %} {{ card }}{% endif %} your monthly donation is charged to expires {{ card_expires }}.
After that, the payments will stop.

To keep your support going, please set up your monthly donation with a new card on our website."""),
        Letter.LAPSED: ("We have not received your monthly donation for a while", """\
The last payment of your monthly donation was on {{ date }}, and the charges have not gone through since.

Perhaps your card has changed or has too little on it. If you would like to keep helping, please set up
your monthly donation again on our website. We would be delighted!"""),
        Letter.LESSON_REMINDER: ("Reminder: your lesson on {{ lesson_date }} at {{ lesson_time }}", """\
This is a reminder that the next lesson of «{{ course }}» takes place on {{ lesson_date }} at {{ lesson_time }}.

We look forward to seeing you! If you cannot come, please reply to this letter."""),
    },
}  # fmt: skip

TITLES = {
    Letter.WELCOME_ONE_TIME: ("Приветствие (разовое пожертвование)", "Welcome (one-time gift)"),
    Letter.WELCOME_RECURRING: ("Приветствие (ежемесячное пожертвование)", "Welcome (monthly gift)"),
    Letter.THANKS_AGAIN: ("Спасибо ещё раз", "Thank you again"),
    Letter.FAILED_ONE_TIME: ("Платёж не прошёл (разовый)", "Payment failed (one-time)"),
    Letter.FAILED_RECURRING: ("Платёж не прошёл (ежемесячный)", "Payment failed (monthly)"),
    Letter.REFUND: ("Возврат", "Refund"),
    Letter.SUBSCRIPTION_ENDED: ("Подписка отменена или остановлена", "Subscription cancelled or rejected"),
    Letter.CARD_EXPIRING: ("Карта скоро истекает", "Card expiring soon"),
    Letter.LAPSED: ("Ежемесячное пожертвование прервалось", "Monthly donation lapsed"),
    Letter.LESSON_REMINDER: ("Напоминание о занятии", "Lesson reminder"),
}  # fmt: skip

VARIABLES = {
    "donor_name": ("имя донора", "the donor's first name"),
    "donor_full_name": ("имя и фамилия донора", "the donor's full name"),
    "amount": ("сумма с валютой, например «1 500,00 ₽»", "the amount with its currency"),
    "date": ("дата пожертвования (или последнего платежа)", "the gift's date (or the last payment's)"),
    "purpose": ("назначение пожертвования", "the gift's purpose"),
    "fund": ("название фонда (из «Отправитель писем»)", "the fund's name (from the letter sender)"),
    "card": ("карта, например «•••• 4242»", "the card, e.g. «•••• 4242»"),
    "card_expires": ("срок действия карты ММ/ГГ", "the card's expiry MM/YY"),
    "reason": ("причина отказа словами", "why the payment failed, in words"),
    "subscription_status": ("статус подписки: Cancelled или Rejected", "the subscription's status"),
    "course": ("курс (напоминание о занятии)", "the course (lesson reminder)"),
    "lesson_date": ("дата занятия в часовом поясе портала", "the lesson's date in the portal's time zone"),
    "lesson_time": ("время начала занятия, ЧЧ:ММ", "the lesson's start time, HH:MM"),
    "unsubscribe_url": ("ссылка для отписки (добавляется в конец письма, если её нет в тексте)",
                        "the unsubscribe link (added at the end when the text lacks it)"),
}  # fmt: skip

FOOTER = {
    "ru": "\n\n—\nЧтобы больше не получать от нас писем, перейдите по ссылке: {url}",
    "en": "\n\n—\nTo stop receiving our letters, follow this link: {url}",
}

REASONS = {
    5001: ("банк, выпустивший карту, отклонил платёж", "the card's bank declined the payment"),
    5005: ("банк отклонил платёж без объяснения причин", "the bank declined the payment without a reason"),
    5006: ("произошла сетевая ошибка", "a network error occurred"),
    5012: ("карта не поддерживает такой платёж", "the card does not support this payment"),
    5013: ("сумма слишком мала или слишком велика для карты", "the amount is too small or too large for the card"),
    5030: ("ошибка на стороне банка", "an error at the bank"),
    5031: ("банк карты недоступен", "the card's bank is not reachable"),
    5034: ("банк заподозрил мошенничество и остановил платёж", "the bank suspected fraud and stopped the payment"),
    5041: ("карта заявлена как потерянная", "the card was reported lost"),
    5043: ("карта заявлена как украденная", "the card was reported stolen"),
    5051: ("на карте недостаточно средств", "there were not enough funds on the card"),
    5054: ("истёк срок действия карты", "the card has expired"),
    5057: ("банк запретил такой платёж по этой карте", "the bank does not allow this payment with this card"),
    5065: ("превышен лимит по карте", "the card's limit was exceeded"),
    5082: ("неверный код CVV", "the CVV code was wrong"),
    5091: ("банк карты временно недоступен", "the card's bank is temporarily unavailable"),
    5092: ("платёж не удалось направить в банк карты", "the payment could not be routed to the card's bank"),
    5096: ("произошла системная ошибка", "a system error occurred"),
    5204: ("платёж не удалось провести", "the payment could not be processed"),
    5206: ("не пройдена проверка 3-D Secure", "3-D Secure authentication failed"),
    5207: ("проверка 3-D Secure недоступна", "3-D Secure authentication was unavailable"),
    5300: ("сработали лимиты платёжной системы", "the payment system's limits were reached"),
}  # fmt: skip
UNKNOWN_REASON = ("банк отклонил платёж", "the bank declined the payment")


def reason_in_words(fail_reason: str, lang: str) -> str:
    """CloudPayments' ``Reason ReasonCode`` ("InsufficientFunds 5051") as a sentence part for the donor."""
    codes = [int(p) for p in fail_reason.split() if p.isdigit()]
    words = REASONS.get(codes[-1], UNKNOWN_REASON) if codes else UNKNOWN_REASON
    return words[lang == "en"]


def default(letter: Letter, lang: str) -> tuple[str, str]:
    """The default (subject, body) of a letter in ``lang``: greeting, text, signature."""
    subject, text = DEFAULTS[lang][letter]
    return subject, f"{GREETING[lang]}\n\n{unwrap(text)}\n\n{SIGNATURE[lang]}"


def unwrap(text: str) -> str:
    """A default's paragraphs each on one line (they are wrapped here only to fit the source)."""
    return "\n\n".join(" ".join(p.split("\n")) for p in text.split("\n\n"))
