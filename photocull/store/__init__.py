"""The database: opening it, migrations, every query of every table, and export."""
