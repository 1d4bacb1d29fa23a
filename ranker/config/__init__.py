"""The job file: its keys (:mod:`~ranker.config.sections`), their parsing and validation
(:mod:`~ranker.config.parse`) and their reference and template (:mod:`~ranker.config.reference`)."""

from .parse import apply_overrides, load_config, parse_config
from .sections import (
    CHOICES,
    DEVICES,
    FORMATS,
    METHODS,
    SECTIONS,
    TIES,
    AuthorsConfig,
    CreditConfig,
    InputConfig,
    JobConfig,
    OutputConfig,
    PersonalizeConfig,
    RankConfig,
    SyntheticConfig,
    TrajectoriesConfig,
)

__all__ = [
    "CHOICES", "DEVICES", "FORMATS", "METHODS", "SECTIONS", "TIES", "AuthorsConfig",
    "CreditConfig", "InputConfig", "JobConfig", "OutputConfig", "PersonalizeConfig", "RankConfig",
    "SyntheticConfig", "TrajectoriesConfig", "apply_overrides", "load_config", "parse_config",
]
