"""What the tool-calling tests (this suite's and the compatibility suite's) ask the fixture for: a tool and a
schema small enough that a random-weight model's output, forced by the grammar, always ends within a few
dozen tokens."""
import json
from typing import Literal

import pydantic

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather", "description": "The weather in a city.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["city", "unit"],
                       "properties": {"city": {"type": "string", "maxLength": 8},
                                      "unit": {"enum": ["celsius", "fahrenheit"]}}},
    },
}


class Weather(pydantic.BaseModel):
    """The weather in a city."""
    city: str = pydantic.Field(max_length=8)
    unit: Literal["celsius", "fahrenheit"]


def check_weather_arguments(arguments):
    """Arguments (JSON text or a dict) that validate against get_weather's parameters."""
    args = json.loads(arguments) if isinstance(arguments, str) else arguments
    assert set(args) == {"city", "unit"}, args
    assert args["unit"] in ("celsius", "fahrenheit") and isinstance(args["city"], str) and len(args["city"]) <= 8
    return args
