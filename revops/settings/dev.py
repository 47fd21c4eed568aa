"""Local development: `make run`. Embedded SQLite and eager Celery unless the environment says otherwise."""
from .base import *
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
