"""The base of every scenario model: unknown keys are errors, values are frozen once validated."""

from pydantic import BaseModel, ConfigDict


class FieldError(ValueError):
    """A model validator's error about a field below the model it validates. ``loc`` (keys and
    list indices from that model) says which field, so the scenario loader locates the error in
    the file without reading the path back out of the message."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
