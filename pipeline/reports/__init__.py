"""The HTML report of a published business date (SPEC §7.7)."""

from pipeline.reports.data import SAVINGS_DEFINITION, ReportData, load_report_data
from pipeline.reports.page import render_html, render_report

__all__ = ["SAVINGS_DEFINITION", "ReportData", "load_report_data", "render_html", "render_report"]
