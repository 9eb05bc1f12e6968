from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db import models

from marketplace.accounts.models import User

def get_expiry(expiry: timedelta | None) -> datetime | None: ...
def get_digest_token(prefix: str | None = None) -> tuple[str, str]: ...

class AuthTokenManager(models.Manager[AuthToken]):
    def create(  # type: ignore[override]  # knox's create returns (token, key), not a model
        self,
        user: User,
        expiry: timedelta | None = ...,
        prefix: str | None = None,
        **kwargs: Any,
    ) -> tuple[AuthToken, str]: ...

class AbstractAuthToken(models.Model):
    objects: ClassVar[AuthTokenManager]
    digest: models.CharField[str, str]
    token_key: models.CharField[str, str]
    user: models.ForeignKey[User, User]
    created: models.DateTimeField[datetime, datetime]
    expiry: models.DateTimeField[datetime | None, datetime | None]

class AuthToken(AbstractAuthToken): ...

def get_token_model() -> type[AuthToken]: ...
