"""Moodle's assignment formats: the "Download all submissions" layout, the grading worksheet, the feedback zip.

What Moodle does, read in Moodle's own source (moodle/moodle, mod/assign):

* "Download all submissions" (``assign::download_submissions`` in ``mod/assign/locallib.php``)
  names each participant's folder ``clean_filename(str_replace('_', ' ', fullname) . '_' .
  uniqueid . '_')`` followed by ``<plugin subtype>_<plugin type>_``, so a file submission lands in
  ``Max Mustermann_123456_assignsubmission_file_/Mustermann-123456.zip`` (since Moodle 4.1 the
  trailing ``_`` may be missing; with "download as folders" off the prefix is glued to the file
  name instead: ``Max Mustermann_123456_assignsubmission_file_Mustermann-123456.zip``).
  Underscores in the full name become blanks, so the second ``_``-separated part is always the
  participant id.
* "Upload multiple feedback files in a zip" (``assignfeedback_file_zip_importer::
  is_valid_filename_for_import`` in ``mod/assign/feedback/file/importziplib.php``) splits every
  path part of every file in the zip with ``explode('_', $part, 5)``, needs at least four parts,
  a numeric second part that is a participant id of the assignment, and a known plugin in parts
  three and four; whatever follows becomes the feedback file's name. Hidden files (``.``, ``~``)
  are skipped. So ``<Full name>_<participant id>_assignsubmission_file_/report.html`` is
  attached to that participant as the feedback file ``report.html`` - the same folder names
  the download uses, which is what Moodle's documentation tells teachers to send back.
* "Upload grading worksheet" (``assignfeedback_offline_grade_importer`` in
  ``mod/assign/feedback/offline/importgradeslib.php`` and ``process_import_grades`` in
  ``.../offline/locallib.php``) finds its columns by their exact, translated header:
  ``get_string('recordid', 'assign')`` (``Identifier``; German ``ID``),
  ``get_string('grade')`` (``Grade``; ``Bewertung``), ``get_string('lastmodifiedgrade',
  'assign')`` (``Last modified (grade)``) and each feedback plugin's field description
  (``Feedback comments``; ``Feedback als Kommentar``). The participant id is what follows
  ``get_string('hiddenuser', 'assign')`` in the identifier (``Participant 123456``;
  ``Teilnehmer/in123456``). The grade is read with ``unformat_float``, i.e. with the decimal
  separator of the importing user's language (``7,5`` in German); a row whose
  "Last modified (grade)" is older than the grade in Moodle is skipped unless the teacher ticks
  "Allow updating records that have been modified more recently in Moodle", as is a grade
  above the assignment's maximum. Encoding and separator are chosen in the upload form.
  The worksheet download goes through Moodle's CSV dataformat (Box Spout), which writes a
  UTF-8 BOM and quotes like PHP's ``fputcsv``.

Hence the rules here: worksheet rows are matched by the digits at the end of the identifier;
only the Grade and Feedback comments cells of matched rows are rewritten and every other byte of
the file is kept (encoding, BOM, separator, quoting, line ends, other columns, "Last modified
(grade)"); the grade is written with the decimal separator the worksheet's own numbers use;
feedback comments are HTML (Moodle stores them as such), so their text is escaped.
"""

from grader.errors import InputError, WorksheetError
from grader.moodle.download import (FEEDBACK_FILE, IGNORED, SUBMISSION_PLUGIN, Found, MoodleName, feedback_folder,
                                    find_submissions, parse_moodle_name)
from grader.moodle.feedback import (DEFAULT_MAX_ZIP_MB, FeedbackZips, feedback_comment, write_feedback_zip,
                                    write_feedback_zips)
from grader.moodle.worksheet import HEADERS, Worksheet, quote, read_worksheet, tokenize, unquote

__all__ = ["DEFAULT_MAX_ZIP_MB", "FEEDBACK_FILE", "FeedbackZips", "write_feedback_zips", "HEADERS", "IGNORED", "SUBMISSION_PLUGIN", "Found", "InputError", "MoodleName", "Worksheet",
           "WorksheetError", "feedback_comment", "feedback_folder", "find_submissions", "parse_moodle_name", "quote",
           "read_worksheet", "tokenize", "unquote", "write_feedback_zip"]
