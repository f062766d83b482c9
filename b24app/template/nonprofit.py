"""The nonprofit CRM template (product.md §2), as data. Codes are stable: never rename a released one."""

from .items import (
    Choice,
    EventBinding,
    Label,
    Pipeline,
    Placement,
    ProductProperty,
    ReferenceList,
    SmartProcess,
    Stage,
    Template,
    UserField,
)

L = Label


def stages(*rows: tuple[str, str, str, str]) -> tuple[Stage, ...]:
    return tuple(Stage(code, L(ru, en), sem) for code, ru, en, sem in rows)


def choices(*rows: tuple[str, str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(code, L(ru, en)) for code, ru, en in rows)


# A new pipeline comes with NEW, WON and LOSE (system stages): the first stage, the success stage and the
# first failure stage of each pipeline reuse those codes; every other stage is the app's own B24_* code.
PIPELINES = (
    Pipeline("B24_GENERAL", L("Общие пожертвования", "General donations"), stages(
        ("NEW", "Получен контакт", "Contact received", ""),
        ("B24_APPEALED", "Направлено обращение", "Appeal sent", ""),
        ("B24_RESPONDED", "Вышли на связь", "In touch", ""),
        ("B24_AGREED", "Согласовали выделение", "Allocation agreed", ""),
        ("B24_SIGNED", "Подписали документы", "Documents signed", ""),
        ("B24_RECEIVED", "Поступили средства", "Funds received", ""),
        ("WON", "Получено и отчитано", "Received and reported", "S"),
        ("LOSE", "Отказался", "Declined", "F"),
        ("B24_WE_DECLINED", "Мы отказали", "We declined", "F"),
        ("B24_POSTPONED", "Отложено", "Postponed", "F"),
    )),
    Pipeline("B24_ONLINE", L("Электронные пожертвования", "Online donations"), stages(
        ("NEW", "Начато", "Started", ""),
        ("WON", "Успешно", "Succeeded", "S"),
        ("LOSE", "Отказ", "Failed", "F"),
        ("B24_REFUNDED", "Возврат", "Refunded", "F"),
    )),
    Pipeline("B24_VOLUNTEERS", L("Волонтёрство", "Volunteering"), stages(
        ("NEW", "Поступление анкеты", "Application received", ""),
        ("B24_INVITED", "Приглашён на встречу", "Invited to a meeting", ""),
        ("WON", "Принят в волонтёры", "Accepted as a volunteer", "S"),
        ("LOSE", "Не выходит на связь", "Not responding", "F"),
        ("B24_DECLINED", "Отказался", "Declined", "F"),
    )),
    Pipeline("B24_FUNDRAISERS", L("Сборы на сайте", "Website fundraisers"), stages(
        ("NEW", "Запланирован", "Planned", ""),
        ("B24_APPROVAL", "На согласовании руководства", "Awaiting approval", ""),
        ("B24_PUBLISHED", "Размещён на сайте", "Published", ""),
        ("B24_CLOSED", "Сбор на сайте закрыт", "Closed on the website", ""),
        ("WON", "Сбор закрыт и отчитан", "Closed and reported", "S"),
        ("LOSE", "Сбор прерван", "Interrupted", "F"),
    )),
    Pipeline("B24_AID_PAYMENT", L("Оплата помощи", "Aid payments"), stages(
        ("NEW", "Запланирован", "Planned", ""),
        ("B24_CLINIC", "Связались с клиникой", "Clinic contacted", ""),
        ("B24_PREPAID", "Предоплата / гарантийное письмо отправлено", "Prepayment / guarantee letter sent", ""),
        ("B24_STARTED", "Начато оказание помощи", "Aid started", ""),
        ("B24_FINAL", "Финальная оплата", "Final payment", ""),
        ("WON", "Помощь оказана и закрыта документами", "Aid delivered and documented", "S"),
        ("LOSE", "Мы отказались", "We withdrew", "F"),
        ("B24_PARTY_DECLINED", "Контрагент отказался", "Counterparty withdrew", "F"),
    )),
    Pipeline("B24_LEARNING", L("Обучение", "Learning"), stages(
        ("NEW", "Заявка", "Application", ""),
        ("B24_ENROLLED", "Записан", "Enrolled", ""),
        ("B24_STUDYING", "Обучается", "Studying", ""),
        ("WON", "Завершил", "Completed", "S"),
        ("LOSE", "Отказался", "Dropped out", "F"),
    )),
)  # fmt: skip

# A lead's only success is its conversion (CONVERTED): «Принят в программу помощи» is the last stage before
# it, and converting the applicant into a contact is what "accepted" means in Bitrix24 terms.
LISTS = (
    ReferenceList("STATUS", choices(
        ("B24_FORM", "Получена анкета", "Questionnaire received"),
        ("B24_CONTACTED", "Связались", "Contacted"),
        ("B24_DOCS_OK", "Документы проверены", "Documents checked"),
        ("B24_APPROVED", "Согласовано руководителем", "Approved by the head"),
        ("B24_ACCEPTED", "Принят в программу помощи", "Accepted into the aid programme"),
        ("B24_DECLINED", "Отказался", "Declined"),
        ("B24_POSTPONED", "Отложен", "Postponed"),
        ("B24_REFUSED", "Мы отказали", "We refused"),
        ("B24_SPAM", "Дубликат или спам", "Duplicate or spam"),
    ), semantics={"B24_DECLINED": "F", "B24_POSTPONED": "F", "B24_REFUSED": "F", "B24_SPAM": "F"},
       order=("B24_FORM", "B24_CONTACTED", "B24_DOCS_OK", "B24_APPROVED", "B24_ACCEPTED", "CONVERTED", "JUNK",
              "B24_DECLINED", "B24_POSTPONED", "B24_REFUSED", "B24_SPAM")),
    ReferenceList("DEAL_TYPE", choices(
        ("B24_ONE_TIME", "Пожертвование разовое", "One-time donation"),
        ("B24_RECURRING", "Пожертвование рекуррентное", "Recurring donation"),
        ("B24_CORRECTION", "Коррекционная запись", "Correction entry"),
        ("B24_GENERAL", "Общие", "General"),
        ("B24_SALES", "Продажи", "Sales"),
        ("B24_PAYMENTS", "Оплаты", "Payments"),
    )),
    ReferenceList("CONTACT_TYPE", choices(
        ("B24_DONOR", "Благотворитель", "Donor"),
        ("B24_DONOR_IN_KIND", "Благотворитель in-kind", "In-kind donor"),
        ("B24_BENEFICIARY", "Благополучатель", "Beneficiary"),
        ("B24_PARTNER", "Партнёр", "Partner"),
        ("B24_VOLUNTEER", "Волонтёр", "Volunteer"),
        ("B24_EMPLOYEE", "Сотрудник компании", "Company employee"),
        ("B24_JOURNALIST", "Журналист", "Journalist"),
    )),
    ReferenceList("COMPANY_TYPE", choices(
        ("B24_DONOR", "Общий благотворитель", "General donor"),
        ("B24_SUPPLIER", "Поставщик", "Supplier"),
        ("B24_MEDICAL", "Мед. учреждение", "Medical institution"),
        ("B24_PARTNER", "Партнёр", "Partner"),
        ("B24_IN_KIND", "Помощь товарами (in-kind)", "In-kind help"),
        ("B24_CORP_VOLUNTEERING", "Корпоративное волонтёрство", "Corporate volunteering"),
    )),
)  # fmt: skip

YES_NO = choices(("Y", "Да", "Yes"), ("N", "Нет", "No"))


def uf(entity: str, code: str, kind: str, ru: str, en: str, multiple: bool = False,
       options: tuple[Choice, ...] = ()) -> UserField:  # fmt: skip
    return UserField(entity, f"B24_{code}", kind, L(ru, en), multiple, options)


RECIPIENT = (
    ("RCP_STATUS", "string", "Получатель: статус заявителя", "Recipient: applicant status"),
    ("RCP_APPLICANT", "string", "Получатель: заявитель", "Recipient: applicant"),
    ("RCP_ADDRESS", "string", "Получатель: адрес регистрации", "Recipient: registered address"),
    ("RCP_INSTITUTION", "string", "Получатель: учреждение", "Recipient: institution"),
    ("RCP_DIAGNOSIS", "string", "Получатель: диагноз подробно", "Recipient: diagnosis in detail"),
    ("RCP_DOCTOR", "string", "Получатель: контакты и имя мед. специалиста", "Recipient: doctor's name and contacts"),
    ("RCP_CITIZENSHIP", "string", "Получатель: гражданство", "Recipient: citizenship"),
    ("RCP_MED_DOCS", "string", "Получатель: набор медицинских документов", "Recipient: medical documents"),
    ("RCP_CIVIL_DOCS", "string", "Получатель: набор общегражданских документов", "Recipient: civil documents"),
    ("RCP_AMOUNT", "money", "Получатель: запрашиваемая сумма", "Recipient: amount requested"),
    ("RCP_URGENCY", "string", "Получатель: срочность помощи", "Recipient: urgency"),
    ("RCP_FUNDRAISER", "employee", "Получатель: ответственный от фандрайзинга", "Recipient: responsible fundraiser"),
)  # fmt: skip

LEAD_FIELDS = (
    uf("lead", "HEARD_FROM", "string", "Откуда вы о нас узнали", "How did you hear about us"),
    *(uf("lead", code, kind, ru, en) for code, kind, ru, en in RECIPIENT),
    uf("lead", "RCP_REFUSAL", "string", "Получатель: причина отказа", "Recipient: refusal reason"),
    uf("lead", "RCP_FILES", "url", "Получатель: ссылки на файлы", "Recipient: file links", multiple=True),
    uf("lead", "RCP_DOCS_STARTED", "date", "Получатель: дата / начали сбор документов", "Recipient: date / documents started"),
    uf("lead", "RCP_DOCS_READY", "date", "Получатель: дата / собран пакет документов", "Recipient: date / documents complete"),
    uf("lead", "RCP_BUDGET_OK", "date", "Получатель: дата / согласовано бюджетным руководством",
       "Recipient: date / budget approved"),
    uf("lead", "RCP_DAYS_DOCS", "integer", "Получатель: время / сбор документов, дней", "Recipient: days / collecting documents"),
    uf("lead", "RCP_DAYS_BUDGET", "integer", "Получатель: время / бюджетное согласование, дней",
       "Recipient: days / budget approval"),
)  # fmt: skip

SEGMENTS = choices(
    ("NEW", "Новый", "New"), ("LOYAL", "Постоянный", "Loyal"), ("RETURNED", "Вернувшийся", "Returned"),
    ("AT_RISK", "Под угрозой", "At risk"), ("LAPSING", "Уходящий", "Lapsing"), ("LAPSED", "Ушедший", "Lapsed"),
    ("LOST", "Потерянный", "Lost"),
)  # fmt: skip
RECURRING_SEGMENTS = choices(
    ("ACTIVE", "Активный", "Active"), ("PAUSED", "Приостановлен", "Paused"), ("FORMER", "Бывший рекуррент", "Former"),
)  # fmt: skip
SUBSCRIPTION = choices(
    ("ACTIVE", "Активна", "Active"), ("PAST_DUE", "Просрочена", "Past due"), ("CANCELLED", "Отменена", "Cancelled"),
    ("REJECTED", "Отклонена", "Rejected"), ("EXPIRED", "Истекла", "Expired"),
)  # fmt: skip
EVENT_SEGMENTS = choices(
    ("NEWCOMER", "Новичок", "Newcomer"), ("REPEAT", "Повторный", "Repeat visitor")
)
GENDER = choices(("F", "Женский", "Female"), ("M", "Мужской", "Male"))

CONTACT_FIELDS = (
    *(uf("contact", code, kind, ru, en) for code, kind, ru, en in RECIPIENT),
    uf("contact", "HEARD_FROM", "string", "Откуда вы о нас узнали", "How did you hear about us"),
    uf("contact", "GIFTS_SUM", "money", "Пожертвования: сумма всего", "Donations: total given"),
    uf("contact", "GIFTS_COUNT", "integer", "Пожертвования: кол-во всего", "Donations: number of gifts"),
    uf("contact", "GIFTS_AVG", "money", "Пожертвования: средняя сумма", "Donations: average gift"),
    uf("contact", "GIFTS_MAX", "money", "Пожертвования: максимальная", "Donations: largest gift"),
    uf("contact", "GIFTS_MIN", "money", "Пожертвования: минимальная", "Donations: smallest gift"),
    uf("contact", "GIFT_FIRST_DATE", "date", "Пожертвования: дата первого", "Donations: first gift date"),
    uf("contact", "GIFT_FIRST_SUM", "money", "Пожертвования: сумма первого", "Donations: first gift amount"),
    uf("contact", "GIFT_LAST_DATE", "date", "Пожертвования: дата последнего", "Donations: last gift date"),
    uf("contact", "GIFT_LAST_SUM", "money", "Пожертвования: сумма последнего", "Donations: last gift amount"),
    uf("contact", "GIFTS_THIS_YEAR", "money", "Пожертвования: в этом году", "Donations: this year"),
    uf("contact", "GIFTS_LAST_YEAR", "money", "Пожертвования: в прошлом году", "Donations: last year"),
    uf("contact", "GIFTS_2Y_AGO", "money", "Пожертвования: два года назад", "Donations: two years ago"),
    uf("contact", "GIFTS_365D", "money", "Пожертвования: за 365 дней", "Donations: last 365 days"),
    uf("contact", "BEST_YEAR", "integer", "Пожертвования: лучший год", "Donations: best year"),
    uf("contact", "BEST_YEAR_SUM", "money", "Пожертвования: сумма лучшего года", "Donations: best year total"),
    uf("contact", "OTHER_CURRENCY", "boolean", "Пожертвования: есть в другой валюте",
       "Donations: some in another currency"),
    uf("contact", "SEGMENT", "enumeration", "Пожертвования: статус донорства", "Donations: donor segment",
       options=SEGMENTS),
    uf("contact", "RECURRING_SEGMENT", "enumeration", "Пожертвования: рекуррентный статус",
       "Donations: recurring status", options=RECURRING_SEGMENTS),
    uf("contact", "SUBSCRIPTION", "enumeration", "Рекуррент: статус подписки", "Recurring: subscription status",
       options=SUBSCRIPTION),
    uf("contact", "CARD_EXPIRES", "string", "Рекуррент: карта действует до (ММ/ГГ)", "Recurring: card expires (MM/YY)"),
    uf("contact", "EVENTS_COUNT", "integer", "Мероприятия: посещено", "Events: attended"),
    uf("contact", "EVENT_FIRST_DATE", "date", "Мероприятия: дата первого", "Events: first event date"),
    uf("contact", "EVENT_LAST_DATE", "date", "Мероприятия: дата последнего", "Events: last event date"),
    uf("contact", "EVENT_SEGMENT", "enumeration", "Мероприятия: сегмент", "Events: segment", options=EVENT_SEGMENTS),
    uf("contact", "VOL_TYPES", "string", "Волонтёрство: типы", "Volunteering: kinds", multiple=True),
    uf("contact", "VOL_STATUS", "string", "Волонтёрство: статус", "Volunteering: status"),
    uf("contact", "VOL_NOTES", "string", "Волонтёрство: дополнительно", "Volunteering: notes"),
    uf("contact", "WELCOME_SENT", "boolean", "Служебные: welcome pack отправлен", "Service: welcome pack sent"),
    uf("contact", "CARD_NAME", "string", "Служебные: имя с банковской карты", "Service: name on the bank card"),
    uf("contact", "FORM_NAME", "string", "Служебные: имя в форме сайта", "Service: name in the website form"),
    uf("contact", "SALUTATION", "string", "Служебные: рассылочное обращение", "Service: mailing salutation"),
    uf("contact", "GENDER", "enumeration", "Пол", "Gender", options=GENDER),
    uf("contact", "BIRTHDAY", "date", "Дата рождения", "Date of birth"),
    uf("contact", "NO_EMAIL", "boolean", "Не отправлять письма", "Do not e-mail"),
)  # fmt: skip

COMPANY_FIELDS = (
    uf("company", "GIFTS_SUM", "money", "Сумма пожертвований", "Donations total"),
    uf("company", "GIFT_LAST_DATE", "date", "Дата последнего пожертвования", "Last donation date"),
    uf("company", "GIFTS_MAX", "money", "Максимальное пожертвование", "Largest donation"),
)  # fmt: skip

HELP_KIND = choices(
    ("GENERAL", "Общее пожертвование", "General donation"), ("PARTNER", "Партнёр", "Partner"),
    ("IN_KIND", "In-kind", "In-kind"), ("VOLUNTEERING", "Волонтёрство", "Volunteering"),
)  # fmt: skip
GATEWAYS = choices(
    ("CLOUDPAYMENTS", "CloudPayments", "CloudPayments"), ("LEYKA", "Лейка", "Leyka"), ("OTHER", "Другой", "Other"),
)  # fmt: skip
THANKS = choices(
    ("WAITING", "Ждёт благодарности", "Awaiting thanks"), ("THANKED", "Поблагодарили", "Thanked"),
    ("NO_THANKS", "Не благодарить", "Do not thank"),
)  # fmt: skip

DEAL_FIELDS = (
    uf("deal", "HELP_KIND", "enumeration", "Классификация помощи", "Kind of help", options=HELP_KIND),
    uf("deal", "NEEDS_CONTRACT", "boolean", "Требуется договор", "Contract required"),
    uf("deal", "NEEDS_REPORT", "boolean", "Требуется отчёт", "Report required"),
    uf("deal", "REPORT_LINKS", "url", "Отчётные документы (ссылки)", "Report documents (links)", multiple=True),
    uf("deal", "FUNDRAISER", "string", "Целевой сбор", "Target fundraiser"),
    uf("deal", "REFUSAL_DETAILS", "string", "Причина отказа подробно", "Refusal reason in detail"),
    uf("deal", "IN_SEGMENTS", "boolean", "Учтено в сегментации", "Counted in segments"),
    uf("deal", "TEST", "boolean", "Тестовый платёж", "Test payment"),
    uf("deal", "CONTACT_BY", "date", "Дата / контрольный срок для связи", "Date / contact by"),
    uf("deal", "POSTPONED_TO", "date", "Дата / вопрос отложен до", "Date / postponed until"),
    uf("deal", "D_STARTED", "date", "Дата / начата работа", "Date / work started"),
    uf("deal", "D_AGREED", "date", "Дата / получено согласие", "Date / consent received"),
    uf("deal", "D_SIGNED", "date", "Дата / подписаны договоры", "Date / contracts signed"),
    uf("deal", "D_RECEIVED", "date", "Дата / получено на счёт", "Date / funds received"),
    uf("deal", "D_REPORT_DUE", "date", "Дата / отчёта требуемая", "Date / report due"),
    uf("deal", "D_REPORT_DONE", "date", "Дата / отчёта фактическая", "Date / report delivered"),
    uf("deal", "DAYS_STARTED", "integer", "Время / начата работа, дней", "Days / work started"),
    uf("deal", "DAYS_AGREED", "integer", "Время / получено согласие, дней", "Days / consent"),
    uf("deal", "DAYS_SIGNED", "integer", "Время / подписание договоров, дней", "Days / signing"),
    uf("deal", "DAYS_REPORT", "integer", "Время / подготовка отчётов, дней", "Days / reporting"),
    uf("deal", "DAYS_RECEIVED", "integer", "Время / получение на счёт, дней", "Days / funds arriving"),
    uf("deal", "VOL_REFUSAL", "string", "Волонтёрство: причины отказа", "Volunteering: refusal reasons"),
    uf("deal", "VOL_MEETING", "enumeration", "Волонтёрство: варианты встречи", "Volunteering: meeting options",
       options=choices(("ONLINE", "Онлайн-встреча", "Online meeting"), ("OFFICE", "Встреча в офисе", "Office meeting"))),
    uf("deal", "GATEWAY", "enumeration", "Платёжный шлюз", "Payment gateway", options=GATEWAYS),
    uf("deal", "PAYMENT_ID", "string", "ID в платёжном шлюзе", "Payment id in the gateway"),
    uf("deal", "SUBSCRIPTION_ID", "string", "ID подписки", "Subscription id"),
    uf("deal", "SUBSCRIPTION", "enumeration", "Статус подписки", "Subscription status", options=SUBSCRIPTION),
    uf("deal", "CARD_MASK", "string", "Номер карты (маска)", "Card number (mask)"),
    uf("deal", "CARD_EXPIRES", "string", "Карта действует до (ММ/ГГ)", "Card expires (MM/YY)"),
    uf("deal", "FAIL_REASON", "string", "Причина отказа платежа", "Payment failure reason"),
    uf("deal", "REFUNDED_SUM", "double", "Сумма возврата", "Refunded sum"),
    uf("deal", "THANKS", "enumeration", "Статус благодарности", "Acknowledgement status", options=THANKS),
    uf("deal", "FR_PUBLISHED", "date", "Сбор: дата / размещён", "Fundraiser: date / published"),
    uf("deal", "FR_CLOSED", "date", "Сбор: дата / закрыт", "Fundraiser: date / closed"),
    uf("deal", "FR_REPORT_DUE", "date", "Сбор: дата / отчитать", "Fundraiser: date / report due"),
    uf("deal", "FR_DAYS_OPEN", "integer", "Сбор: время / открыт, дней", "Fundraiser: days open"),
    uf("deal", "FR_STOP_REASON", "string", "Сбор: причина прерывания", "Fundraiser: reason interrupted"),
    uf("deal", "FR_REPORT_LINKS", "url", "Сбор: отчётные документы", "Fundraiser: report documents", multiple=True),
    uf("deal", "LESSON_DATES", "datetime", "Даты занятий (вместо дат курса)", "Lesson dates (override)", multiple=True),
)  # fmt: skip

PARTICIPATION = SmartProcess(
    "B24_PARTICIPATION",
    L("Участие в мероприятиях", "Event participation"),
    stages(
        ("NEW", "Зарегистрирован", "Registered", ""),
        ("B24_PAID", "Оплачено", "Paid", ""),
        ("SUCCESS", "Посетил", "Attended", "S"),
        ("FAIL", "Не пришёл", "Did not come", "F"),
        ("B24_CANCELLED", "Отменён", "Cancelled", "F"),
    ),
    (
        uf("item", "TP_EVENT_ID", "string", "Timepad: ID мероприятия", "Timepad: event id"),
        uf("item", "TP_EVENT_NAME", "string", "Timepad: мероприятие", "Timepad: event"),
        uf("item", "TP_STARTS_AT", "datetime", "Начало", "Starts at"),
        uf("item", "TP_TICKET_STATUS", "string", "Статус билета", "Ticket status"),
        uf("item", "TP_ATTENDED", "boolean", "Посетил", "Attended"),
    ),
)

NONPROFIT = Template(
    version="6",
    pipelines=PIPELINES,
    lists=LISTS,
    fields=LEAD_FIELDS + CONTACT_FIELDS + COMPANY_FIELDS + DEAL_FIELDS,
    smart_processes=(PARTICIPATION,),
    product_properties=(ProductProperty("B24_LESSON_DATES", L("Даты занятий", "Lesson dates")),),
    events=(
        EventBinding("ONAPPUPDATE", "/bitrix/events"),
        EventBinding("ONAPPUNINSTALL", "/bitrix/events"),
        EventBinding(
            "ONCRMPRODUCTUPDATE", "/bitrix/events"
        ),  # lesson times moved: reminders follow
        EventBinding("ONCRMDEALUPDATE", "/bitrix/events"),  # a deal left «Записан»/«Обучается»
    ),
    placements=(
        Placement("LEFT_MENU", "/app", L("Благо24", "Blago24")),
        Placement(
            "CRM_DEAL_DETAIL_TOOLBAR",
            "/app/cancel-subscription",
            L("Отменить подписку", "Cancel subscription"),
        ),
        Placement(
            "CRM_DYNAMIC_{entityTypeId}_LIST_TOOLBAR",
            "/app/timepad",
            L("Синхронизировать с Timepad", "Sync with Timepad"),
            "B24_PARTICIPATION",
        ),
    ),
)
