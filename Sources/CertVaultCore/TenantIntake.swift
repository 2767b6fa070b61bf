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

    /// Parses a CSV file: a header row, one record per line, comma separated, fields optionally in
    /// double quotes with `""` for a quote (RFC 4180, except that a quoted field cannot span
    /// lines). Blank lines and lines starting with `#` are skipped.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` naming the file, line and column, for an
    ///   unknown or missing column, a bad tenant id, a duplicate tenant or a malformed line.
    public static func parseCSV(_ text: String, source: String) throws -> [TenantIntake] {
        func fail(_ line: Int, _ message: String) -> CertVaultError {
            CertVaultError(.invalidInput, "\(source):\(line): \(message).",
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
            result.append(TenantIntake(tenant: tenant, org: value("org"), domain: value("domain")))
        }
        guard !result.isEmpty else { throw fail(header.line, "the file lists no tenants") }
        return result
    }
}

/// RFC 4180 CSV as certvault reads it: a header row, one record per line, comma separated,
/// fields optionally in double quotes with `""` for a quote (a quoted field cannot span lines).
/// Blank lines and lines starting with `#` are skipped.
public enum CSVTable {
    /// Every record with its line number, the header first.
    ///
    /// - Throws: ``CertVaultError`` `invalid-input` naming the file and line of a malformed line.
    public static func rows(_ text: String, source: String) throws -> [(line: Int, fields: [String])] {
        var rows: [(line: Int, fields: [String])] = []
        var lineNumber = 0
        // "\r\n" is one Character in Swift, so split on both forms.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.hasPrefix("#") { continue }
            guard let fields = splitCSVLine(line) else {
                throw CertVaultError(.invalidInput, "\(source):\(lineNumber): a quoted field is not closed, or text follows its closing quote.",
                                     hint: "Quote a field that holds a comma, and double a quote inside quotes (\"\").")
            }
            rows.append((lineNumber, fields))
        }
        return rows
    }

    static func splitCSVLine(_ line: Substring) -> [String]? {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if quoted {
                if character == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex && line[next] == "\"" {
                        field.append("\"")
                        index = next
                    } else {
                        quoted = false
                        // Only spaces may stand between a closing quote and the next comma.
                        var rest = line[next...]
                        while let first = rest.first, first == " " || first == "\t" { rest = rest.dropFirst() }
                        if let first = rest.first, first != "," { return nil }
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" && field.trimmingSpaces().isEmpty {
                field = ""
                quoted = true
            } else if character == "," {
                fields.append(field)
                field = ""
            } else {
                field.append(character)
            }
            index = line.index(after: index)
        }
        if quoted { return nil }
        fields.append(field)
        return fields
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
