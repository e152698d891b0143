"""What the model may call: the bundled schemas, their endpoints and exports. Pure: no I/O."""

from mm_assistants.tools.binding import ToolArgumentError
from mm_assistants.tools.endpoints import Endpoint
from mm_assistants.tools.formats import FORMATS, ToolFormat
from mm_assistants.tools.profiles import PROFILE_NAMES
from mm_assistants.tools.registry import ToolRegistry, ToolSpec, load_registry
from mm_assistants.tools.request import RequestSpec
from mm_assistants.tools.schemas import (
    DEFAULT_SCHEMA_VERSION,
    LATEST_SCHEMA_VERSION,
    SCHEMA_VERSIONS,
    Problem,
    SchemaError,
)

__all__ = [
    "DEFAULT_SCHEMA_VERSION",
    "FORMATS",
    "LATEST_SCHEMA_VERSION",
    "PROFILE_NAMES",
    "SCHEMA_VERSIONS",
    "Endpoint",
    "Problem",
    "RequestSpec",
    "SchemaError",
    "ToolArgumentError",
    "ToolFormat",
    "ToolRegistry",
    "ToolSpec",
    "load_registry",
]
