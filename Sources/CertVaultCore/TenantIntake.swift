internal import SwiftCSV

/// One tenant's details as a provider gives them: id, display name, Microsoft 365 domain.
public struct TenantIntake: Hashable, Sendable {
    /// The tenant id.
    public var tenant: TenantID
    /// The organisation's display name.
    public var org: String?
    /// The Microsoft 365 domain (`contoso.onmicrosoft.com`).
    public var domain: String?

    /// Creates an intake record.
    public init(tenant: TenantID, org: String? = nil, domain: String? = nil) {
        self.tenant = tenant
        self.org = org
        self.domain = domain
    }

    /// The columns a tenant CSV file may have. `tenant` is required.
    public static let csvColumns = ["tenant", "org", "domain"]

    /// The most rows a CSV file may have.
    public static let maximumRows = 100_000

    /// Parses a CSV file's bytes (see ``CSVTable`` for the format): strict UTF-8, a byte order
    /// mark skipped.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` naming the file and line, as
    ///   ``parseCSV(_:source:)`` does, and for bytes that are not UTF-8.
    public static func parseCSV(bytes: [UInt8], source: String) throws -> [TenantIntake] {
        try parseCSV(try CSVTable.text(bytes: bytes, source: source), source: source)
    }

    /// Parses a CSV file (see ``CSVTable`` for the format): a header row naming `tenant` and
    /// optionally `org` and `domain`, then one record per tenant.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` naming the file, line and column, for an
    ///   unknown or missing column, a bad tenant id, a duplicate tenant, a control character or
    ///   a malformed record. Text from the file is shown with its control characters escaped.
    public static func parseCSV(_ text: String, source: String) throws -> [TenantIntake] {
        func fail(_ line: Int, _ message: String) -> CertVaultError {
            CertVaultError(.invalidInput, DisplayText.escapingControls(Sentence.end("\(source):\(line): \(message)")),
                           hint: line <= 1 ? "The file needs a header row with 'tenant' and optionally 'org' and 'domain'."
                               : "Fix line \(line) of \(source) and run again; nothing was issued.")
        }
        let rows = try CSVTable.rows(text, source: source)
        guard let header = rows.first else { throw fail(1, "the file has no header row") }
        let columns = header.fields.map { $0.trimmingSpaces().lowercased() }
        for column in columns where !csvColumns.contains(column) {
            throw fail(header.line, "unknown column '\(column)'; columns are \(csvColumns.joined(separator: ", "))")
        }
        guard let tenantColumn = columns.firstIndex(of: "tenant") else { throw fail(header.line, "there is no 'tenant' column") }
        guard Set(columns).count == columns.count else { throw fail(header.line, "a column name appears twice") }
        guard rows.count - 1 <= maximumRows else { throw fail(header.line, "more than \(maximumRows) rows") }
        var seen: [TenantID: Int] = [:]
        var result: [TenantIntake] = []
        for row in rows.dropFirst() {
            guard row.fields.count == columns.count else {
                throw fail(row.line, "\(row.fields.count) fields where the header has \(columns.count)")
            }
            let tenant: TenantID
            do {
                tenant = try TenantID(row.fields[tenantColumn].trimmingSpaces())
            } catch let error as CertVaultError {
                throw fail(row.line, error.reason)
            }
            if let first = seen[tenant] { throw fail(row.line, "tenant '\(tenant)' is listed again (first on line \(first))") }
            seen[tenant] = row.line
            func value(_ name: String) -> String? {
                guard let index = columns.firstIndex(of: name) else { return nil }
                let text = row.fields[index].trimmingSpaces()
                return text.isEmpty ? nil : text
            }
            for name in ["org", "domain"] {
                // These become certificate subject text: plain characters only.
                if let text = value(name), let scalar = text.unicodeScalars.first(where: DisplayText.needsEscape) {
                    throw fail(row.line, "\(name) holds a control or invisible formatting character "
                                   + "(\(DisplayText.escapingControls(String(scalar))))")
                }
            }
            result.append(TenantIntake(tenant: tenant, org: value("org"), domain: value("domain")))
        }
        guard !result.isEmpty else { throw fail(header.line, "the file lists no tenants") }
        return result
    }
}

/// RFC 4180 CSV as certvault reads it, for every intake file (`issue --from`, `onboard start
/// --from`): a header row, records separated by LF, CRLF or CR alone, comma separated, fields
/// optionally in double quotes with `""` for a quote; a quoted field may span lines. A UTF-8
/// byte order mark at the start is skipped. Blank lines, and lines that start with `#` where a
/// record would start, are skipped.
///
/// The records are split by SwiftCSV (a maintained reader); around it this type adds what an
/// intake file needs: strict UTF-8, no control characters (only tab and line breaks), an error
/// for a quoted field that is never closed (SwiftCSV takes the rest of the file into it), and
/// the line each record starts on, for error messages.
public enum CSVTable {
    /// The byte order mark some spreadsheets write at the start of a UTF-8 file.
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Every record of a file's bytes with the line it starts on, the header first.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` naming the file and line of bytes that are
    ///   not UTF-8, a control character, or a malformed record.
    public static func rows(bytes: [UInt8], source: String) throws -> [(line: Int, fields: [String])] {
        try rows(try text(bytes: bytes, source: source), source: source)
    }

    /// The bytes of an intake file as text: strict UTF-8 (never a replacement character in
    /// place of a bad byte), without a leading byte order mark.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` naming the file and the line of the first
    ///   byte that is not UTF-8.
    public static func text(bytes: [UInt8], source: String) throws -> String {
        let body = bytes.starts(with: byteOrderMark) ? bytes[byteOrderMark.count...] : bytes[...]
        var iterator = body.makeIterator()
        var decoder = UTF8()
        var lines = LineCounter()
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): lines.count(scalar)
            case .emptyInput: break decoding
            case .error:
                throw failure(source, lines.line, "the file is not UTF-8 text (a byte here is not valid UTF-8)",
                              hint: "Save the file as UTF-8 (in a spreadsheet: CSV UTF-8).")
            }
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// Every record with the line it starts on, the header first.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` naming the file and line of a control
    ///   character or a malformed record.
    public static func rows(_ text: String, source: String) throws -> [(line: Int, fields: [String])] {
        var text = text
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        var lines = LineCounter()
        // Comment lines: '#' where a record starts (not inside a quoted field). They are emptied
        // before SwiftCSV sees them, keeping their line breaks, so a quote in a comment is no error.
        var comments: [Range<String.UnicodeScalarView.Index>] = []
        var commentStart: String.UnicodeScalarView.Index?
        var quoted = false
        var atLineStart = true
        for index in text.unicodeScalars.indices {
            let scalar = text.unicodeScalars[index]
            if isRefused(scalar) {
                let shown = DisplayText.escapingControls(String(scalar))
                throw failure(source, lines.line, "a control character (\(shown)) is not allowed in the file",
                              hint: "Remove it: intake files may hold tabs and line breaks, no other control characters.")
            }
            lines.count(scalar)
            let isLineBreak = scalar == "\n" || scalar == "\r"
            if let start = commentStart {
                if isLineBreak {
                    comments.append(start..<index)
                    commentStart = nil
                    atLineStart = true
                }
                continue
            }
            if atLineStart && !quoted && scalar == "#" {
                commentStart = index
            } else if scalar == "\"" {
                quoted.toggle()  // "" inside quotes toggles twice
            }
            atLineStart = isLineBreak
        }
        if let start = commentStart { comments.append(start..<text.unicodeScalars.endIndex) }
        for range in comments.reversed() { text.unicodeScalars.removeSubrange(range) }
        // SwiftCSV drops an empty last field when the last record has no line break after it.
        var breaks = lines.line - 1
        if let last = text.unicodeScalars.last, last != "\n" && last != "\r" {
            text.append("\n")
            breaks += 1
        }

        var rows: [(line: Int, fields: [String])] = []
        var nextLine = 1
        var lastLine = 1
        do {
            let csv = try EnumeratedCSV(string: text, delimiter: .comma, loadColumns: false, rowLimit: 0)
            try csv.enumerateAsArray(startAt: 0, rowLimit: nil) { fields in
                lastLine = nextLine
                // A record spans one line plus one for every line break inside its quoted fields.
                nextLine += 1 + fields.reduce(0) { $0 + lineBreaks(in: $1) }
                if fields == [""] { return }  // a blank line, or a comment emptied above
                rows.append((lastLine, fields))
            }
        } catch {
            throw malformed(source, nextLine)
        }
        // Every record ends with a line break, and the file ends with one, so the records account
        // for every line break, unless a quoted field was never closed: then SwiftCSV took the
        // rest of the file, final line break included, into the last record without ending it.
        if nextLine != breaks + 1 { throw malformed(source, lastLine) }
        return rows
    }

    /// The line breaks inside a field (LF, CRLF and CR alone count one each).
    static func lineBreaks(in field: String) -> Int {
        guard field.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return 0 }
        var lines = LineCounter()
        for scalar in field.unicodeScalars { lines.count(scalar) }
        return lines.line - 1
    }

    /// Control characters other than tab and line breaks, and the Unicode line and paragraph
    /// separators (which a CSV reader could take for line breaks nobody sees).
    static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: false
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029: true
        default: false
        }
    }

    static func malformed(_ source: String, _ line: Int) -> CertVaultError {
        failure(source, line, "a quoted field is not closed, or text follows its closing quote",
                hint: "Quote a field that holds a comma, and double a quote inside quotes (\"\").")
    }

    static func failure(_ source: String, _ line: Int, _ message: String, hint: String) -> CertVaultError {
        CertVaultError(.invalidInput, DisplayText.escapingControls(Sentence.end("\(source):\(line): \(message)")), hint: hint)
    }

    /// Counts lines as a text editor does: LF, CRLF and CR alone each end one.
    struct LineCounter {
        private(set) var line = 1
        private var afterCR = false

        mutating func count(_ scalar: Unicode.Scalar) {
            if scalar == "\n" {
                if !afterCR { line += 1 }
            } else if scalar == "\r" {
                line += 1
            }
            afterCR = scalar == "\r"
        }
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs.
    public func trimmingSpaces() -> String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
