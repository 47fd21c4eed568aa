"""Fixtures shared by every test: users per role, API clients, a portal user."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from revops.kernel import roles


@pytest.fixture
def make_user(db):
    """make_user("finance") -> a user in that role group (groups come from the kernel migration)."""
    counter = {"n": 0}

    def make(*role_names: str, username: str | None = None, **extra) -> User:
        counter["n"] += 1
        name = username or f"{'-'.join(role_names) or 'nobody'}-{counter['n']}"
        user = User.objects.create_user(username=name, password="pw-for-tests-1", email=f"{name}@example.com", **extra)
        for role in role_names:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def api_client_for():
    """api_client_for(user) -> an APIClient authenticated by the user's token."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def sales_rep(make_user):
    return make_user(roles.SALES_REP)


@pytest.fixture
def sales_manager(make_user):
    return make_user(roles.SALES_MANAGER)


@pytest.fixture
def finance_user(make_user):
    return make_user(roles.FINANCE)


@pytest.fixture
def success_user(make_user):
    return make_user(roles.CUSTOMER_SUCCESS)


@pytest.fixture
def admin_user_role(make_user):
    return make_user(roles.ADMIN, is_staff=True)
