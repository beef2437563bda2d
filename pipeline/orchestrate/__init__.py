"""Airflow orchestration helpers: the SIFMA timetable, task bodies and alerts (SPEC §1, §8).

Business rules stay in the stage packages; this package only adapts them to Airflow. Import the
submodules directly (`pipeline.orchestrate.tasks`, `.timetable`, `.notify`) so that parsing a DAG
file loads no more than it needs.
"""
