"""Registers xmargin's SIFMA business-day timetable with Airflow (SPEC §1).

Airflow (de)serializes a custom timetable only if a plugin lists it; the scheduler and the DAG
processor load this file from the plugins folder (`[core] plugins_folder`).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pipeline.orchestrate.timetable import SifmaBusinessDayTimetable


class XmarginPlugin(AirflowPlugin):
    """The xmargin plugin: timetables only."""

    name = "xmargin"
    timetables = [SifmaBusinessDayTimetable]  # noqa: RUF012 (Airflow reads a class attribute)
