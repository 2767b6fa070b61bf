internal import CertVaultCore
internal import CertVaultVB365
public import Foundation

/// Many tenants' intake from a CSV or JSON file, all checked before anything is sent.
///
/// CSV (read by ``CSVTable``, the reader `issue --from` uses too): a header row; `tenant` and
/// `org_name` are required; `display_name`, `region`,
/// `services` (separated by `;` or spaces: exchange, sharepoint, teams, teamschats), `app_name`
/// and `msid` are optional; any other column is a provider field kept with the record.
/// JSON: an array of objects with `tenant`, `orgName`, and optionally `displayName`, `region`,
/// `services` (array or string), `appName`, `msid`, `fields` (an object of strings).
public enum IntakeFile {
    public static let maximumTenants = 10_000
    static let known: Set<String> = ["tenant", "org_name", "display_name", "region", "services", "app_name", "msid"]

    /// Reads and checks a file (`.json` by extension, CSV otherwise).
    public static func load(path: String) throws -> [OnboardingRecord.Intake] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CertVaultError(.invalidInput, "Cannot read the intake file '\(path)'.", hint: "Check the path and its permissions.")
        }
        guard data.count <= 16 << 20 else { throw CertVaultError(.invalidInput, "The intake file '\(path)' is larger than 16 MiB.") }
        let intakes = path.lowercased().hasSuffix(".json")
            ? try parseJSON(data, source: path) : try parseCSV(bytes: Array(data), source: path)
        guard !intakes.isEmpty else { throw CertVaultError(.invalidInput, "\(path) lists no tenants.") }
        guard intakes.count <= maximumTenants else { throw CertVaultError(.invalidInput, "\(path) lists more than \(maximumTenants) tenants.") }
        return intakes
    }

    /// Reads a CSV file's bytes: strict UTF-8 (a byte order mark is skipped), then as
    /// ``parseCSV(_:source:)``.
    public static func parseCSV(bytes: [UInt8], source: String) throws -> [OnboardingRecord.Intake] {
        try parseCSV(try CSVTable.text(bytes: bytes, source: source), source: source)
    }

    /// Reads CSV text: every row checked, errors naming the file and the line a record starts on.
    public static func parseCSV(_ text: String, source: String) throws -> [OnboardingRecord.Intake] {
        let rows = try CSVTable.rows(text, source: source)
        guard let header = rows.first else { throw CertVaultError(.invalidInput, "\(source) is empty.", hint: "The first line names the columns: tenant,org_name,...") }
        let columns = header.fields.map { $0.trimmingSpaces().lowercased() }
        guard Set(columns).count == columns.count else { throw fail(source, header.line, "a column name appears twice") }
        for required in ["tenant", "org_name"] where !columns.contains(required) {
            throw fail(source, header.line, "there is no '\(required)' column (columns: tenant, org_name, display_name, region, services, app_name, msid, and provider fields)")
        }
        for column in columns where !column.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) || column.isEmpty {
            throw fail(source, header.line, "column name '\(column)' must be letters, digits, '_' or '-'")
        }
        var result: [OnboardingRecord.Intake] = []
        var seen: [TenantID: Int] = [:]
        for row in rows.dropFirst() {
            guard row.fields.count == columns.count else { throw fail(source, row.line, "\(row.fields.count) fields where the header has \(columns.count)") }
            var values: [String: String] = [:]
            for (index, column) in columns.enumerated() { values[column] = row.fields[index].trimmingSpaces() }
            let intake = try make(values, fields: values.filter { !known.contains($0.key) }, source: source, line: row.line)
            if let first = seen[intake.tenant] { throw fail(source, row.line, "tenant '\(intake.tenant)' is listed again (first on line \(first))") }
            seen[intake.tenant] = row.line
            result.append(intake)
        }
        return result
    }

    public static func parseJSON(_ data: Data, source: String) throws -> [OnboardingRecord.Intake] {
        guard let array = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw CertVaultError(.invalidInput,
                                 DisplayText.escapingControls("\(source) is not a JSON array of objects (or not UTF-8)."),
                                 hint: "See docs/onboarding.md for the fields.")
        }
        var result: [OnboardingRecord.Intake] = []
        var seen: Set<TenantID> = []
        for (index, object) in array.enumerated() {
            func text(_ key: String) -> String? {
                if let value = object[key] as? String { return value }
                return nil
            }
            var values: [String: String] = [:]
            values["tenant"] = text("tenant")
            values["org_name"] = text("orgName")
            values["display_name"] = text("displayName")
            values["region"] = text("region")
            values["app_name"] = text("appName")
            values["msid"] = text("msid")
            if let list = object["services"] as? [String] { values["services"] = list.joined(separator: ";") } else { values["services"] = text("services") }
            var fields: [String: String] = [:]
            if let given = object["fields"] as? [String: Any] {
                for (key, value) in given {
                    guard let string = value as? String else { throw fail(source, index + 1, "fields.\(key) must be a string", item: true) }
                    fields[key] = string
                }
            }
            let intake = try make(values, fields: fields, source: source, line: index + 1, item: true)
            guard seen.insert(intake.tenant).inserted else { throw fail(source, index + 1, "tenant '\(intake.tenant)' is listed again", item: true) }
            result.append(intake)
        }
        return result
    }

    /// One tenant's intake from command-line values, keyed like the CSV columns (`tenant`,
    /// `org_name`, `display_name`, `region`, `services`, `app_name`, `msid`), checked the same way.
    public static func intake(_ values: [String: String], fields: [String: String]) throws -> OnboardingRecord.Intake {
        try make(values, fields: fields, source: nil, line: 0)
    }

    static func make(_ values: [String: String], fields: [String: String], source: String?, line: Int, item: Bool = false) throws -> OnboardingRecord.Intake {
        func nonEmpty(_ key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }
        let tenant: TenantID
        do {
            tenant = try TenantID(values["tenant"] ?? "")
        } catch let error as CertVaultError {
            throw fail(source, line, error.reason, item: item)
        }
        // Names are shown to people, sent to VB365 and Entra ID: plain characters only.
        for key in ["org_name", "display_name", "region", "services", "app_name", "msid"] {
            if let text = values[key], let scalar = text.unicodeScalars.first(where: DisplayText.needsEscape) {
                throw fail(source, line,
                           "\(key) holds a control or invisible formatting character (\(escaped(scalar)))", item: item)
            }
        }
        for (key, value) in fields {
            if let scalar = key.unicodeScalars.first(where: DisplayText.needsEscape) {
                throw fail(source, line, "provider field name '\(key)' holds a control character (\(escaped(scalar)))",
                           item: item)
            }
            // Provider notes may span lines (a quoted CSV field, or \n in JSON); nothing else.
            let lineBreaksAndTab: Set<Unicode.Scalar> = ["\t", "\n", "\r"]
            let refused = { (scalar: Unicode.Scalar) in DisplayText.needsEscape(scalar) && !lineBreaksAndTab.contains(scalar) }
            if let scalar = value.unicodeScalars.first(where: refused) {
                throw fail(source, line, "provider field '\(key)' holds a control character (\(escaped(scalar)))",
                           item: item)
            }
        }
        guard let orgName = nonEmpty("org_name") else { throw fail(source, line, "no Microsoft 365 organization name (org_name) for '\(tenant)'", item: item) }
        let regionText = nonEmpty("region") ?? "Worldwide"
        guard let region = VB365Region(rawValue: regionText) else {
            throw fail(source, line, "region '\(regionText)' is not one of \(VB365Region.allCases.map(\.rawValue).joined(separator: ", "))", item: item)
        }
        let servicesText = nonEmpty("services") ?? "exchange;sharepoint;teams"
        let services = Set(servicesText.lowercased().split(whereSeparator: { $0 == ";" || $0 == " " || $0 == "," || $0 == "|" }).map(String.init))
        let allowed: Set<String> = ["exchange", "sharepoint", "teams", "teamschats"]
        guard services.isSubset(of: allowed) else {
            throw fail(source, line, "unknown service(s) \(services.subtracting(allowed).sorted().joined(separator: ", ")); use exchange, sharepoint, teams, teamschats", item: item)
        }
        let intake = OnboardingRecord.Intake(tenant: tenant, displayName: nonEmpty("display_name") ?? tenant.rawValue, officeName: orgName, region: region,
                                             exchange: services.contains("exchange"), sharePoint: services.contains("sharepoint"),
                                             teams: services.contains("teams"), teamsChats: services.contains("teamschats"),
                                             applicationName: nonEmpty("app_name"), msid: nonEmpty("msid"), providerFields: fields)
        do {
            try intake.validate()
        } catch let error as CertVaultError {
            throw fail(source, line, error.reason, item: item, hint: error.hint)
        }
        return intake
    }

    static func escaped(_ scalar: Unicode.Scalar) -> String { DisplayText.escapingControls(String(scalar)) }

    /// An intake error; text from the file is shown with its control characters escaped.
    static func fail(_ source: String?, _ line: Int, _ message: String, item: Bool = false, hint: String? = nil) -> CertVaultError {
        let message = DisplayText.escapingControls(message)
        let source = source.map(DisplayText.escapingControls)
        guard let source else {
            return CertVaultError(.invalidInput, Sentence.end(message.prefix(1).uppercased() + message.dropFirst()),
                                  hint: (hint.map { $0 + " " } ?? "") + "Nothing was sent. See 'certvault onboard start --help' and docs/onboarding.md.")
        }
        return CertVaultError(.invalidInput, Sentence.end("\(source)\(item ? " item " : ":")\(line): \(message)"),
                              hint: (hint.map { $0 + " " } ?? "") + "Nothing was sent: fix the file and run again. Columns and fields: docs/onboarding.md.")
    }
}
