"""Hall pass history and reports, one module per part, stacked without cycles.

`scope` (who sees which passes, the filters, the matching passes in SQL) is at the bottom;
`figures` (grouped counts) and `lines` (pass listings, who was out together) build on it;
`csv_files` writes them all as spreadsheets. The views are in `hallpass.report_views`.
"""
