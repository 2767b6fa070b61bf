internal import CertVaultCore
internal import CertVaultPolicy

/// A named set of scopes over a set of tenants (`policy/access/NAME.toml`). A token bound to a policy
/// gets what the policy says at the moment of each request, so tightening the policy tightens every
/// token that uses it. Format: docs/access.md, "Access policies".
public struct AccessPolicy: Sendable, Hashable {
    /// The policy's name; equal to its file name without `.toml`.
    public let name: String
    /// A line for people, if the file has one.
    public let description: String?
    /// The scopes granted.
    public let scopes: Set<Scope>
    /// The tenants covered; `nil` means every tenant (the file said `"*"`).
    public let tenants: TenantSelector?
    /// The file it was read from.
    public let file: String

    /// Creates a policy.
    public init(name: String, description: String? = nil, scopes: Set<Scope>, tenants: TenantSelector?, file: String = "") {
        self.name = name
        self.description = description
        self.scopes = scopes
        self.tenants = tenants
        self.file = file
    }

    /// Whether `name` can name a policy: 1 to 64 ASCII letters, digits, `-` and `_`, starting with a
    /// letter or digit.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 64,
            ("0"..."9").contains(first) || ("a"..."z").contains(first) || ("A"..."Z").contains(first)
        else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_"
        }
    }

    /// Reads one policy from the text of `file`.
    ///
    /// - Throws: ``CertVaultError`` `invalid-access-policy` naming the file and line: a syntax error, a
    ///   table, an unknown key, a missing or mistyped key, an unknown scope, a bad tenant pattern, or a
    ///   name that is not the file's.
    public static func parse(_ text: String, file: String) throws -> AccessPolicy {
        func failure(_ line: Int?, _ message: String, hint: String) -> CertVaultError {
            CertVaultError(.invalidAccessPolicy, "Access policy '\(file)'\(line.map { " line \($0)" } ?? ""): \(message).", hint: hint)
        }
        let tables: [TOMLTable]
        do {
            var parser = TOMLSubsetParser(text)
            tables = try parser.parse()
        } catch {
            throw failure(error.line, error.message, hint: "Fix the line; access policies use the TOML subset of docs/access.md.")
        }
        if let table = tables.first(where: { !$0.name.isEmpty }) {
            throw failure(
                table.line, "tables are not allowed ([\(table.name)])",
                hint: "An access policy has only the keys name, description, scopes and tenants, before any [table].")
        }
        var name: String?
        var description: String?
        var scopes: Set<Scope>?
        var tenants: TenantSelector??
        var firstLine = 1
        for entry in tables.first?.entries ?? [] {
            firstLine = min(firstLine, entry.line)
            switch (entry.key, entry.value) {
            case ("name", .string(let value)):
                guard isValidName(value) else {
                    throw failure(
                        entry.line, "name \(DisplayText.escapingControls(value, limit: 80)) is not a valid policy name",
                        hint: "Use 1 to 64 letters, digits, '-' and '_'.")
                }
                name = value
            case ("description", .string(let value)):
                description = value
            case ("scopes", .array(let values)):
                var parsed = Set<Scope>()
                for value in values {
                    guard case .string(let text) = value else {
                        throw failure(
                            entry.line, "scopes must be strings, not \(value.typeName)", hint: "Write scopes = [\"tenants:read\"].")
                    }
                    guard let scope = Scope(rawValue: text) else {
                        throw failure(
                            entry.line, "unknown scope \(DisplayText.escapingControls(text, limit: 64))",
                            hint: "Use one of: \(Scope.allCases.map(\.rawValue).joined(separator: ", ")).")
                    }
                    guard parsed.insert(scope).inserted else {
                        throw failure(entry.line, "scope '\(text)' is listed twice", hint: "List each scope once.")
                    }
                }
                guard !parsed.isEmpty else {
                    throw failure(entry.line, "scopes is empty", hint: "A policy that grants nothing has no use; list at least one scope.")
                }
                scopes = parsed
            case ("tenants", let value):
                tenants = try parseTenants(value, line: entry.line, failure: failure)
            case ("name", _), ("description", _), ("scopes", _):
                throw failure(
                    entry.line,
                    "'\(entry.key)' must be \(entry.key == "scopes" ? "an array of strings" : "a string"), "
                        + "not \(entry.value.typeName)", hint: "See docs/access.md, \"Access policies\".")
            default:
                throw failure(
                    entry.line, "unknown key '\(entry.key)'",
                    hint: "An access policy has only the keys name, description, scopes and tenants.")
            }
        }
        guard let name else { throw failure(nil, "the key 'name' is missing", hint: "Add name = \"\(stem(of: file))\".") }
        guard let scopes else {
            throw failure(nil, "the key 'scopes' is missing", hint: "Add scopes = [...] with the scopes the policy grants.")
        }
        guard let tenants else {
            throw failure(
                nil, "the key 'tenants' is missing",
                hint: "Add tenants = [\"contoso\", \"eu-*\"], or tenants = \"*\" for every tenant (which must be written out).")
        }
        let expected = stem(of: file)
        guard name == expected else {
            let line = tables.first?.entries.first(where: { $0.key == "name" })?.line
            throw failure(
                line, "the name '\(name)' is not the file's name '\(expected)'",
                hint: "Rename the file to \(name).toml or set name = \"\(expected)\"; a token names its policy by both.")
        }
        return AccessPolicy(name: name, description: description, scopes: scopes, tenants: tenants, file: file)
    }

    private static func parseTenants(
        _ value: TOMLValue, line: Int,
        failure: (Int?, String, String) -> CertVaultError
    ) throws -> TenantSelector? {
        let everyTenantHint = "Write tenants = [\"contoso\", \"eu-*\"] (ids and prefix patterns), or tenants = \"*\" for every tenant."
        switch value {
        case .string("*"):
            return nil
        case .array(let values):
            var entries: [String] = []
            for value in values {
                guard case .string(let text) = value else {
                    throw failure(line, "tenants must be strings, not \(value.typeName)", everyTenantHint)
                }
                entries.append(text)
            }
            if entries.contains("*") {
                guard entries.count == 1 else {
                    throw failure(line, "'*' covers every tenant; nothing else may be listed with it", everyTenantHint)
                }
                return nil
            }
            do {
                return try TenantSelector(entries)
            } catch let error as CertVaultError {
                throw failure(
                    line, error.reason.hasSuffix(".") ? String(error.reason.dropLast()) : error.reason,
                    error.hint ?? everyTenantHint)
            }
        default:
            throw failure(line, "tenants must be an array of strings or \"*\", not \(value.typeName)", everyTenantHint)
        }
    }

    static func stem(of file: String) -> String {
        let base = file.split(separator: "/").last.map(String.init) ?? file
        return base.hasSuffix(".toml") ? String(base.dropLast(5)) : base
    }
}
