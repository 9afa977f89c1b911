"""The programme around the scanner: people and roles, the logbook, credentialing pathways, and the
quality review of flagged cases (issue 18).

Kept in a relational database through SQLAlchemy, with the schema made and upgraded by Alembic
migrations: SQLite in the workstation's folder by default, or a department's shared PostgreSQL server
(a connection URL) so logbooks and QA follow people across scanners. No Qt.
"""
