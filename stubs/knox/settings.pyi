from typing import Any, Final

from rest_framework.settings import APISettings

class KnoxSettings(APISettings):
    @property
    def user_settings(self) -> dict[str, Any]: ...

knox_settings: KnoxSettings

class _Constants:
    TOKEN_KEY_LENGTH: Final[int]
    DIGEST_LENGTH: Final[int]
    MAXIMUM_TOKEN_PREFIX_LENGTH: Final[int]

CONSTANTS: _Constants
