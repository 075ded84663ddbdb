"""The demo logins, one per role (the README lists the same). The passwords follow the password
policy (app/security/passwords.py): 10 characters or more, not containing the username, not common."""
DEMO_USERS = [
    # username, password, role
    ("admin", "Xitong-Demo-2026", "Admin"),
    ("hq", "Zongbu-Demo-2026", "HQ Admin"),
    ("manager", "Quyu-Demo-2026", "Regional Manager"),
    ("agent", "Kefu-Demo-2026", "Service Agent"),
    ("auditor", "Shenji-Demo-2026", "Auditor"),
]
