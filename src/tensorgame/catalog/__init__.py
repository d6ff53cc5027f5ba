"""SQLite catalogue of verified schemes (see :mod:`tensorgame.catalog.store`)."""

from tensorgame.catalog.store import (
    ENV_VAR,
    AddResult,
    Catalog,
    CatalogEntry,
    SkippedRow,
    default_catalog_path,
)

__all__ = ["ENV_VAR", "AddResult", "Catalog", "CatalogEntry", "SkippedRow", "default_catalog_path"]
