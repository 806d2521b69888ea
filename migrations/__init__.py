"""The Alembic environment of the registry, shipped inside the wheel.

:func:`registry.upgrade` points Alembic here (``script_location`` is this
package's directory), so ``zoo db upgrade`` works from an installed wheel.
"""
