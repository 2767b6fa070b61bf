internal import CertVaultCore

#if canImport(Glibc)
internal import Glibc
#endif

/// Reads and validates policy files.
///
/// Every error names the file, the line and the key, says what is wrong and what is allowed:
/// `policy/x.toml:7: [key] bits = 1024 is not allowed; use one of 2048, 3072, 4096`.
public enum PolicyLoader {
    /// The largest policy file accepted.
    public static let maximumFileSize = 64 * 1024

    /// Loads the policy file at `path`.
    ///
    /// - Throws: ``CertVaultError`` `invalid-policy` when the file is missing, unreadable, not
    ///   UTF-8, malformed, or asks for something not allowed.
    public static func load(path: String) throws -> IssuancePolicy {
        let text = try readFile(path)
        let stem = path.split(separator: "/").last.map { String($0) } ?? path
        // The name is shown by `policy check` and kept in summaries: a file name's control
        // characters are escaped, as every policy string's are refused.
        let defaultName = DisplayText.escapingControls(stem.hasSuffix(".toml") ? String(stem.dropLast(5)) : stem)
        return try parse(text, source: path, defaultName: defaultName)
    }

    /// Parses policy text; `source` names it in error messages.
    ///
    /// - Throws: ``CertVaultError`` `invalid-policy`.
    public static func parse(_ text: String, source: String, defaultName: String = "policy") throws -> IssuancePolicy {
        var parser = TOMLSubsetParser(text)
        let tables: [TOMLTable]
        do {
            tables = try parser.parse()
        } catch {
            throw policyError(source, error.line, error.message)
        }
        var reader = Reader(source: source)
        return try reader.build(tables, defaultName: defaultName)
    }

    /// A policy error. Messages quote text from the file, so control characters are shown
    /// escaped, never sent to the terminal as they are.
    static func policyError(_ source: String, _ line: Int?, _ message: String) -> CertVaultError {
        let location = line.map { "\(source):\($0)" } ?? source
        return CertVaultError(.invalidPolicy, DisplayText.escapingControls("\(location): \(message)."),
                              hint: "See docs/policy.md for every key and its allowed values.")
    }

    private static func readFile(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let missing = errno == ENOENT
            throw CertVaultError(
                .invalidPolicy,
                missing ? "Policy file '\(path)' does not exist." : "Cannot open policy file '\(path)'.",
                hint: missing ? "Check the path (a relative one starts from the current folder). Without --policy and "
                    + "CERTVAULT_POLICY, certvault uses its built-in default policy (the text of policy/default.toml)."
                    : "Check that you may read it.",
                underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw CertVaultError(.invalidPolicy, "Cannot read policy file '\(path)'.",
                                     hint: "Is it a regular file?", underlying: PrivateFiles.errnoText())
            }
            if got == 0 { break }
            bytes += chunk[0..<got]
            if bytes.count > maximumFileSize {
                throw policyError(path, nil, "the file is larger than \(maximumFileSize / 1024) KiB; is it really a policy?")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw policyError(path, nil, "the file is not valid UTF-8 text")
        }
        return text
    }
}

/// Turns parsed tables into a policy, checking each key against the schema.
private struct Reader {
    let source: String

    /// The schema: every table and the keys it accepts.
    static let schema: [String: [String]] = [
        "": ["name"],
        "key": ["algorithm", "bits"],
        "certificate": ["digest", "validity_days", "backdate_seconds", "serial_bits", "friendly_name"],
        "subject": IssuancePolicy.AttributeType.allCases.map(\.rawValue),
        "extensions": [
            "key_usage", "key_usage_critical", "extended_key_usage", "subject_key_identifier", "authority_key_identifier",
        ],
        "pkcs12": ["profile", "iterations", "mac_iterations"],
        "password": ["length", "allow_supplied", "min_supplied_length"],
        "renewal": ["renew_before_days"],
    ]

    func fail(_ line: Int?, _ message: String) -> CertVaultError {
        PolicyLoader.policyError(source, line, message)
    }

    mutating func build(_ tables: [TOMLTable], defaultName: String) throws -> IssuancePolicy {
        var policy = IssuancePolicy.defaults
        policy.name = defaultName
        var macIterationsSet = false
        var sawSubject = false
        for table in tables {
            guard let keys = Reader.schema[table.name] else {
                let known = Reader.schema.keys.filter { !$0.isEmpty }.sorted()
                throw fail(table.line, "unknown table [\(table.name)]\(suggestion(table.name, known)); tables are "
                    + known.map { "[\($0)]" }.joined(separator: ", "))
            }
            let where_ = table.name.isEmpty ? "" : "[\(table.name)] "
            for entry in table.entries {
                guard keys.contains(entry.key) else {
                    throw fail(entry.line, "unknown key '\(entry.key)' in \(table.name.isEmpty ? "the top level" : "[\(table.name)]")"
                        + "\(suggestion(entry.key, keys)); allowed keys are \(keys.joined(separator: ", "))")
                }
                let field = Field(entry: entry, label: "\(where_)\(entry.key)", reader: self)
                switch (table.name, entry.key) {
                case ("", "name"):
                    policy.name = try field.string()
                    if policy.name.isEmpty || policy.name.count > 64
                        || policy.name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                        throw fail(entry.line, "name must be 1 to 64 characters, without control characters")
                    }
                case ("key", "algorithm"):
                    let algorithm = try field.string()
                    guard algorithm.uppercased() == "RSA" else {
                        throw fail(entry.line, "[key] algorithm = \"\(algorithm)\" is not allowed; Microsoft Entra ID accepts "
                            + "only RSA keys for application certificates, so the only value is \"RSA\"")
                    }
                case ("key", "bits"):
                    policy.keyBits = try field.integer(oneOf: IssuancePolicy.Limits.keyBits,
                                                       why: "Entra ID needs at least 2048 bits")
                case ("certificate", "digest"):
                    policy.digest = try field.choice(IssuancePolicy.Digest.self)
                case ("certificate", "validity_days"):
                    policy.validityDays = try field.integer(in: IssuancePolicy.Limits.validityDays)
                case ("certificate", "backdate_seconds"):
                    policy.backdateSeconds = try field.integer(in: IssuancePolicy.Limits.backdateSeconds)
                case ("certificate", "serial_bits"):
                    policy.serialBits = try field.integer(in: IssuancePolicy.Limits.serialBits)
                case ("certificate", "friendly_name"):
                    policy.friendlyName = try field.template()
                    if policy.friendlyName.source.isEmpty { throw fail(entry.line, "friendly_name must not be empty") }
                case ("subject", _):
                    sawSubject = true
                    let type = IssuancePolicy.AttributeType(rawValue: entry.key)!
                    let template = try field.template()
                    if template.variables.isEmpty, let problem = type.problem(with: template.source) {
                        throw fail(entry.line, "[subject] \(problem)")
                    }
                    policy.subject.append(IssuancePolicy.SubjectAttribute(type: type, value: template))
                case ("extensions", "key_usage"):
                    let usages = try field.choices(IssuancePolicy.KeyUsage.self)
                    guard usages.contains(.digitalSignature) else {
                        throw fail(entry.line, "[extensions] key_usage must include \"digitalSignature\": "
                            + "Entra ID signs client assertions with the key")
                    }
                    policy.extensions.keyUsage = usages
                case ("extensions", "key_usage_critical"):
                    policy.extensions.keyUsageCritical = try field.boolean()
                case ("extensions", "extended_key_usage"):
                    policy.extensions.extendedKeyUsage = try field.choices(IssuancePolicy.ExtendedKeyUsage.self)
                case ("extensions", "subject_key_identifier"):
                    policy.extensions.subjectKeyIdentifier = try field.boolean()
                case ("extensions", "authority_key_identifier"):
                    policy.extensions.authorityKeyIdentifier = try field.boolean()
                case ("pkcs12", "profile"):
                    policy.pkcs12.profile = try field.choice(IssuancePolicy.PKCS12Profile.self)
                case ("pkcs12", "iterations"):
                    policy.pkcs12.iterations = try field.integer(in: IssuancePolicy.Limits.iterations)
                    if !macIterationsSet { policy.pkcs12.macIterations = policy.pkcs12.iterations }
                case ("pkcs12", "mac_iterations"):
                    policy.pkcs12.macIterations = try field.integer(in: IssuancePolicy.Limits.iterations)
                    macIterationsSet = true
                case ("password", "length"):
                    policy.password.length = try field.integer(in: IssuancePolicy.Limits.passwordLength)
                case ("password", "allow_supplied"):
                    policy.password.allowSupplied = try field.boolean()
                case ("password", "min_supplied_length"):
                    policy.password.minimumSuppliedLength = try field.integer(in: IssuancePolicy.Limits.minimumSuppliedLength)
                case ("renewal", "renew_before_days"):
                    policy.renewBeforeDays = try field.integer(in: IssuancePolicy.Limits.renewBeforeDays)
                default:
                    throw fail(entry.line, "key '\(entry.key)' is listed in the schema but not handled")
                }
            }
        }
        guard sawSubject, policy.subject.contains(where: { $0.type == .CN }) else {
            throw fail(nil, "the [subject] table with at least CN is required, e.g. CN = \"{org}\"")
        }
        guard policy.renewBeforeDays < policy.validityDays else {
            throw fail(nil, "[renewal] renew_before_days (\(policy.renewBeforeDays)) must be less than "
                + "[certificate] validity_days (\(policy.validityDays))")
        }
        return policy
    }

    func suggestion(_ word: String, _ candidates: [String]) -> String {
        guard word.count >= 3 else { return "" }
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }.min { $0.1 < $1.1 }
        guard let (best, distance) = scored, best.count >= 3, distance <= max(1, best.count / 3) else { return "" }
        return " (did you mean '\(best)'?)"
    }

    /// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
    /// neighbours each cost one, so `nmae` is one step from `name`.
    func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}

/// One entry being read as a typed value.
private struct Field {
    let entry: TOMLEntry
    let label: String
    let reader: Reader

    func wrongType(_ expected: String) -> CertVaultError {
        reader.fail(entry.line, "\(label) must be \(expected), not \(entry.value.typeName)")
    }

    func string() throws -> String {
        guard case .string(let value) = entry.value else { throw wrongType("a string") }
        return value
    }

    func boolean() throws -> Bool {
        guard case .boolean(let value) = entry.value else { throw wrongType("true or false") }
        return value
    }

    func integer(in range: ClosedRange<Int>) throws -> Int {
        guard case .integer(let value) = entry.value else { throw wrongType("a whole number") }
        guard range.contains(value) else {
            throw reader.fail(entry.line, "\(label) = \(value) is out of range; allowed are \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func integer(oneOf allowed: [Int], why: String) throws -> Int {
        guard case .integer(let value) = entry.value else { throw wrongType("a whole number") }
        guard allowed.contains(value) else {
            throw reader.fail(entry.line, "\(label) = \(value) is not allowed (\(why)); use one of "
                + allowed.map(String.init).joined(separator: ", "))
        }
        return value
    }

    func choice<T: RawRepresentable & CaseIterable>(_ type: T.Type) throws -> T where T.RawValue == String {
        let value = try string()
        guard let choice = T(rawValue: value) else {
            throw reader.fail(entry.line, "\(label) = \"\(value)\" is not allowed; use one of "
                + T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
        }
        return choice
    }

    func choices<T: RawRepresentable & CaseIterable & Equatable>(_ type: T.Type) throws -> [T] where T.RawValue == String {
        guard case .array(let values) = entry.value else { throw wrongType("an array of strings") }
        var result: [T] = []
        for value in values {
            guard case .string(let text) = value else { throw wrongType("an array of strings") }
            guard let choice = T(rawValue: text) else {
                throw reader.fail(entry.line, "\(label) has \"\(text)\", which is not allowed; use any of "
                    + T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
            }
            if result.contains(choice) { throw reader.fail(entry.line, "\(label) lists \"\(text)\" twice") }
            result.append(choice)
        }
        return result
    }

    func template() throws -> Template {
        let text = try string()
        do {
            return try Template(text)
        } catch {
            throw reader.fail(entry.line, "\(label) = \"\(text)\": \(error.message)")
        }
    }
}

extension PolicyLoader {
    /// Where the built-in default policy is said to come from in messages.
    public static let builtInDefaultSource = "built-in default policy"

    /// The text of `policy/default.toml`, built in so that an installed `certvault` works from
    /// any folder. `policy/default.toml` stays the reference; a test keeps the two identical,
    /// byte for byte.
    public static let builtInDefaultText = #"""
        # certvault issuance policy: the default for every tenant.
        # Every key is documented in docs/policy.md. Values shown are the built-in defaults.
        name = "default"

        [key]
        algorithm = "RSA"          # Microsoft Entra ID accepts only RSA for application certificates
        bits = 2048                # 2048, 3072 or 4096

        [certificate]
        digest = "sha256"          # sha256, sha384 or sha512
        validity_days = 730        # two years
        backdate_seconds = 300     # notBefore 5 minutes in the past, for clients whose clocks run behind
        serial_bits = 127          # positive random serial: top bit set, 126 random bits
        friendly_name = "{org} VB365 Tenant"

        # The subject distinguished name, in this order. Variables: {tenant}, {org}, {domain}, {date}.
        [subject]
        O = "{org}"
        CN = "{org} VB365 Tenant"

        [extensions]
        key_usage = ["digitalSignature"]
        key_usage_critical = true
        extended_key_usage = ["clientAuth"]
        subject_key_identifier = true
        authority_key_identifier = true

        [pkcs12]
        profile = "compat"         # compat: 3DES + SHA-1 MAC (every Windows); modern: AES-256 + SHA-256 MAC
        iterations = 10000         # about 5x OpenSSL's default of 2048; at most 600000 (.NET's limit)
        mac_iterations = 10000

        [password]
        length = 32                # generated passwords: 32 characters, about 187 bits
        allow_supplied = true      # a user may supply one (from a file, fd, stdin or env, never argv)
        min_supplied_length = 16

        [renewal]
        renew_before_days = 60     # rotation treats a certificate as due 60 days before notAfter

        """#

    /// The built-in default policy: ``builtInDefaultText`` read like a file named `default.toml`.
    ///
    /// - Throws: ``CertVaultError`` `invalid-policy` only if the built-in text were broken (a test guards it).
    public static func builtInDefault() throws -> IssuancePolicy {
        try parse(builtInDefaultText, source: builtInDefaultSource, defaultName: "default")
    }

    /// The policy at `path`, or the built-in default when `path` is nil.
    public static func load(pathOrBuiltIn path: String?) throws -> IssuancePolicy {
        if let path { return try load(path: path) }
        return try builtInDefault()
    }
}
