"""Numbers are stored exactly as entered, or refused: never rounded on the way in.

A ``Numeric(p, s)`` column keeps ``s`` decimal places and ``p - s`` digits before the decimal
point. Written into it, 89.95 would become 90.0 (PostgreSQL rounds; SQLite stores a float that
reads back rounded) and pass a "≥ 90" mark that the value entered fails; a price of 12.345 would
become 12.34 without a word. So a value is taken only when the column keeps it as it is:

* at most ``s`` decimal places once trailing zeros are dropped (``"30.00"`` is 30 and fits
  ``Numeric(5, 1)``; ``"29.95"`` does not);
* at most ``p - s`` digits before the point;
* a finite number (no NaN or infinity).

Anything else is a field error naming what the column keeps. ``value_problem`` is the rule;
every way in uses it:

* **services** — ``check_numbers`` is an entity rule of every model (``core.services``'
  ``run_validators``: pages, the API, imports), so nothing that passes the rules is rounded later;
* **API** — ``ExactDecimal`` replaces marshmallow's ``Decimal`` in the payload schemas
  (``core.api``): it does not quantise what it loads, and refuses (422, with the other field
  errors) what the column cannot keep;
* **pages** — ``exact_number_form`` adds the same check to the add and edit forms (``core.views``),
  so the error shows under the field;
* **imports** — ``parse`` reads a cell exactly (``reports.imports``), the row error names the column.

Rules judged on a number (a training record's ``passed`` flag, the onboarding gate) therefore
see exactly the value that is stored. Float columns (none today) are not covered: a float keeps no
fixed number of places.
"""
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from flask_babel import gettext
from marshmallow import ValidationError, fields
from sqlalchemy import Float, Numeric, inspect


def digits(column):
    """``(precision, scale)`` of a ``Numeric`` column (not ``Float``), else ``None``."""
    type_ = getattr(column, "type", None)
    type_ = getattr(type_, "impl_instance", type_)  # a TypeDecorator: its underlying type
    if not isinstance(type_, Numeric) or isinstance(type_, Float):
        return None
    if type_.precision is None:
        return None
    return type_.precision, type_.scale or 0


def to_decimal(value):
    """``value`` as an exact ``Decimal``; ``ValueError`` for anything that is not a finite number.

    A float is taken as its shortest text (``89.95``, not the binary value's 50 digits): the number
    that was typed in a JSON body or an Excel cell.
    """
    if value is None or isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, (int, float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(value) from None
    else:
        raise ValueError(value)
    if not number.is_finite():
        raise ValueError(value)
    return number


def decimal_places(number):
    """Decimal places ``number`` needs (trailing zeros dropped): 29.95 → 2, 30.00 → 0, 1E+2 → 0."""
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent)


def whole_digits(number):
    """Digits before the decimal point: 123.4 → 3, 0.5 → 0."""
    whole = abs(number).to_integral_value(rounding=ROUND_DOWN)
    return 0 if whole == 0 else whole.adjusted() + 1


def text(number):
    """A decimal as plain text (no exponent)."""
    return format(number, "f")


def value_problem(number, precision, scale):
    """Why ``number`` (a finite ``Decimal``) cannot be kept exactly by ``Numeric(precision, scale)``,
    or ``None`` when it can."""
    if decimal_places(number) > scale:
        if scale == 0:
            return gettext("Enter a whole number: %(value)s would be rounded when saved.", value=text(number))
        return gettext("Too many decimal places: this field keeps %(places)s, and %(value)s would be rounded "
                       "when saved.", places=scale, value=text(number))
    if whole_digits(number) > precision - scale:
        return gettext("Too large: at most %(digits)s digits before the decimal point.", digits=precision - scale)
    return None


def problem(value, column):
    """The field message for ``value`` written into ``column`` (``None``: it is kept exactly)."""
    spec = digits(column)
    if spec is None or value is None:
        return None
    try:
        number = to_decimal(value)
    except ValueError:
        return gettext("Enter a number.")
    return value_problem(number, *spec)


def parse(raw, column):
    """An entered value (text, a number) as the exact ``Decimal`` ``column`` will keep;
    ``ValueError`` with the field message otherwise."""
    try:
        number = to_decimal(raw)
    except ValueError:
        raise ValueError(gettext("Enter a number.")) from None
    spec = digits(column)
    message = value_problem(number, *spec) if spec else None
    if message:
        raise ValueError(message)
    return number


# --- services: an entity rule of every model -----------------------------------------------------

def unstorable(item):
    """``{attribute: message}`` of ``item``'s numbers that its columns cannot keep exactly."""
    mapper = inspect(type(item))
    found = {}
    for column in mapper.columns:
        if digits(column) is None:
            continue
        key = mapper.get_property_by_column(column).key
        message = problem(getattr(item, key, None), column)
        if message:
            found[key] = message
    return found


def check_numbers(item, errors):
    for key, message in unstorable(item).items():
        errors.add(key, message)


def _register():
    from flask_appbuilder import Model

    from app.core.services import validates_entity

    validates_entity(Model)(check_numbers)


_register()


# --- API: marshmallow ----------------------------------------------------------------------------

class ExactDecimal(fields.Decimal):
    """marshmallow's ``Decimal`` that loads a value exactly (no quantising) and refuses one its
    column cannot keep; dumping is unchanged (the column's places)."""

    column = None

    def _validated(self, value):
        if value is True or value is False:
            raise self.make_error("invalid")
        try:
            number = to_decimal(value)
        except ValueError:
            try:
                special = not Decimal(str(value)).is_finite()
            except (InvalidOperation, TypeError, ValueError):
                special = False
            raise self.make_error("special" if special else "invalid") from None
        spec = digits(self.column) if self.column is not None else None
        message = value_problem(number, *spec) if spec else None
        if message:
            raise ValidationError(message)
        return number


def exact_decimal_field(field, column):
    """Turn a schema's ``fields.Decimal`` for ``column`` into an ``ExactDecimal``, in place."""
    field.__class__ = ExactDecimal
    field.column = column
    return field


# --- pages: WTForms ------------------------------------------------------------------------------

class ExactNumberForm:
    """Mixed into a WTForms form class: a number its column cannot keep is an error on its field.
    ``_exact_columns`` maps field names to their columns."""

    _exact_columns = {}

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for name, column in self._exact_columns.items():
            field = self._fields.get(name)
            if field is None or field.data is None or field.errors:
                continue
            message = problem(field.data, column)
            if message:
                field.errors = list(field.errors or []) + [message]
                valid = False
        return valid


def exact_number_form(form_class, model):
    """``form_class`` checking its ``Numeric`` fields of ``model`` (unchanged when it has none)."""
    if form_class is None or issubclass(form_class, ExactNumberForm):
        return form_class
    mapper = inspect(model)
    columns = {}
    for column in mapper.columns:
        if digits(column) is None:
            continue
        key = mapper.get_property_by_column(column).key
        if hasattr(form_class, key):
            columns[key] = column
    if not columns:
        return form_class
    return type(form_class.__name__, (ExactNumberForm, form_class),
                {"__module__": form_class.__module__, "_exact_columns": columns})
