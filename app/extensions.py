"""Extension singletons, bound to the app in ``create_app``.

The AppBuilder is made per app (it keeps its views and menu), reachable as ``current_app.appbuilder``.
"""
from flask_appbuilder.models.sqla.base import SQLA
from flask_mail import Mail
from flask_migrate import Migrate

db = SQLA()
migrate = Migrate()
mail = Mail()
