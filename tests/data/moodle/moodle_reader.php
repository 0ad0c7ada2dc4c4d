<?php
// Reads a grading worksheet the way Moodle 4.5's "Upload grading worksheet" does, and prints what it
// would import as JSON. Written for this project's tests (not Moodle's code), after:
//   lib/csvlib.class.php            csv_import_reader::load_csv_content, init, next (fgetcsv, enclosure '"')
//   mod/assign/feedback/offline/importgradeslib.php   init (columns by exact header), next (strtotime)
// Usage: php moodle_reader.php FILE ENCODING SEPARATOR ID_HEADER GRADE_HEADER MODIFIED_HEADER FEEDBACK_HEADER
[$_, $file, $encoding, $separator, $idh, $gradeh, $modh, $feedbackh] = $argv;
$delimiters = ['comma' => ',', 'semicolon' => ';', 'colon' => ':', 'tab' => "\t"];
$content = file_get_contents($file);
if (strtoupper($encoding) !== 'UTF-8') {
    $content = iconv($encoding, 'UTF-8', $content);
}
if (substr($content, 0, 3) === "\xEF\xBB\xBF") {
    $content = substr($content, 3);  // textlib::trim_utf8_bom
}
$content = preg_replace('!\r\n?!', "\n", $content);
$fp = fopen('php://memory', 'w+');
fwrite($fp, $content);
fseek($fp, 0);
$rows = [];
while ($data = fgetcsv($fp, 0, $delimiters[$separator], '"')) {
    $rows[] = $data;
}
$count = count($rows[0]);
foreach ($rows as $row) {
    if (count($row) !== $count) {
        echo json_encode(['error' => 'csvweirdcolumns']), "\n";
        exit(0);
    }
}
$columns = array_flip($rows[0]);
foreach ([$idh, $gradeh, $modh] as $required) {
    if (!isset($columns[$required])) {
        echo json_encode(['error' => 'invalidgradeimport', 'missing' => $required]), "\n";
        exit(0);
    }
}
$out = [];
foreach (array_slice($rows, 1) as $row) {
    $out[] = [
        'id' => $row[$columns[$idh]],
        'grade' => $row[$columns[$gradeh]],
        'modified' => strtotime($row[$columns[$modh]]),
        'feedback' => isset($columns[$feedbackh]) ? $row[$columns[$feedbackh]] : null,
    ];
}
echo json_encode(['rows' => $out], JSON_UNESCAPED_UNICODE), "\n";
