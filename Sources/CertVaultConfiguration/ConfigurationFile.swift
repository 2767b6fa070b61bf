// The configuration file's reader (see ServiceConfiguration and docs/configuration.md).
public import CertVaultCore
internal import CertVaultPolicy
internal import CertVaultVB365
internal import Foundation
#if canImport(Glibc)
internal import Glibc
#endif

extension CertVaultError.Code {
    /// A configuration file, or an environment variable overriding it, that cannot be used.
    public static let invalidConfiguration = CertVaultError.Code("invalid-configuration")
}

extension ServiceConfiguration {
    /// The largest configuration file read.
    public static let maximumFileBytes = 1 << 20

    /// Reads the configuration: the file at `path` (else at `$CERTVAULT_CONFIG`, else none: the
    /// built-in defaults), then the environment overrides documented in docs/configuration.md.
    ///
    /// Relative paths in the file and in the environment are kept as written: they are relative to
    /// the working directory of the process, like the CLI's options.
    ///
    /// - Throws: ``CertVaultError`` `invalid-configuration` naming the file, the line and the key (or
    ///   the environment variable) and saying what is allowed. Unknown tables and keys are errors.
    public static func load(path: String?, environment: [String: String]) throws -> ServiceConfiguration {
        let chosen = path ?? environment["CERTVAULT_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        guard let chosen else { return try parse(text: "", source: nil, environment: environment) }
        guard !chosen.isEmpty else {
            throw CertVaultError(.invalidConfiguration, "The configuration file's path is empty.",
                                 hint: "Give --config /etc/certvault/certvault.toml (or set CERTVAULT_CONFIG).")
        }
        return try parse(text: try readFile(chosen), source: chosen, environment: environment)
    }

    /// Reads configuration text as ``load(path:environment:)`` does with a file's content; `source`
    /// is the file's name in errors (`nil`: none, only the environment applies to an empty text).
    public static func parse(text: String, source: String?, environment: [String: String]) throws -> ServiceConfiguration {
        var reader = ConfigurationReader(source: source)
        try reader.readFile(text)
        try reader.readEnvironment(environment)
        return try reader.build(environment: environment)
    }

    private static func readFile(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let failure = errno
            throw CertVaultError(.invalidConfiguration, "Cannot open the configuration file '\(DisplayText.escapingControls(path))'.",
                                 hint: failure == ENOENT
                                    ? "Check the path given with --config or CERTVAULT_CONFIG; docs/examples/certvault.toml is a starting point."
                                    : "Make the file readable by the user certvault runs as.",
                                 underlying: PrivateFiles.errnoText(failure))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw CertVaultError(.invalidConfiguration, "Cannot read the configuration file '\(DisplayText.escapingControls(path))'.",
                                     hint: "Give a regular file (a folder or a device is not a configuration file).",
                                     underlying: PrivateFiles.errnoText())
            }
            if got == 0 { break }
            bytes += chunk[..<got]
            guard bytes.count <= maximumFileBytes else {
                throw CertVaultError(.invalidConfiguration,
                                     "The configuration file '\(DisplayText.escapingControls(path))' is larger than \(maximumFileBytes) bytes.",
                                     hint: "A configuration file is a few dozen lines; check that --config names the right file.")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CertVaultError(.invalidConfiguration, "The configuration file '\(DisplayText.escapingControls(path))' is not UTF-8 text.",
                                 hint: "Save it as UTF-8 (TOML files are UTF-8).")
        }
        return text
    }
}

/// A value and where it came from.
struct ConfigurationSetting {
    let value: TOMLValue
    /// `'FILE' line N, [table] key`, or `environment variable NAME`.
    let origin: String
}

/// Reads the file's entries and the environment's overrides into one map, then builds the values.
struct ConfigurationReader {
    let source: String?
    private(set) var settings: [String: ConfigurationSetting] = [:]

    init(source: String?) { self.source = source }

    private var fileName: String { source.map { "'\(DisplayText.escapingControls($0))'" } ?? "the configuration" }

    private static func failure(_ origin: String, _ reason: String, hint: String) -> CertVaultError {
        CertVaultError(.invalidConfiguration, "\(origin): \(reason)", hint: hint)
    }

    mutating func readFile(_ text: String) throws {
        var parser = TOMLSubsetParser(text)
        let tables: [TOMLTable]
        do {
            tables = try parser.parse()
        } catch {
            throw CertVaultError(.invalidConfiguration, "\(fileName) line \(error.line): \(error.message).",
                                 hint: "The file is TOML (a subset: strings, whole numbers, booleans, arrays); see docs/configuration.md.")
        }
        for table in tables {
            if table.name.isEmpty {
                if let entry = table.entries.first {
                    throw Self.failure("\(fileName) line \(entry.line), key '\(entry.key)'", "keys must be inside a [table].",
                                  hint: "Put it under one of " + ServiceConfiguration.tables.map { "[\($0)]" }.joined(separator: ", ") + ".")
                }
                continue
            }
            guard ServiceConfiguration.tables.contains(table.name) else {
                throw Self.failure("\(fileName) line \(table.line), table [\(DisplayText.escapingControls(table.name))]", "unknown table.",
                              hint: Self.suggestion(table.name, among: ServiceConfiguration.tables, brackets: true)
                                + "The tables are " + ServiceConfiguration.tables.map { "[\($0)]" }.joined(separator: ", ") + ".")
            }
            for entry in table.entries {
                let origin = "\(fileName) line \(entry.line), [\(table.name)] \(DisplayText.escapingControls(entry.key))"
                try refusePlainSecret(entry.key, table: table.name, origin: origin)
                let allowed = ServiceConfiguration.keys.filter { $0.table == table.name }
                guard let key = allowed.first(where: { $0.name == entry.key }) else {
                    throw Self.failure(origin, "unknown key.",
                                  hint: Self.suggestion(entry.key, among: allowed.map(\.name), brackets: false)
                                    + "[\(table.name)] takes " + allowed.map(\.name).joined(separator: ", ") + ".")
                }
                try Self.check(entry.value, kind: key.kind, origin: origin)
                settings[key.qualified] = ConfigurationSetting(value: entry.value, origin: origin)
            }
        }
    }

    /// `passphrase = "..."` or `password = "..."`: the secret itself in the file. Refused without
    /// repeating the value anywhere.
    private func refusePlainSecret(_ key: String, table: String, origin: String) throws {
        let lowered = key.lowercased()
        guard ["passphrase", "password", "secret", "pass", "passwd", "token"].contains(lowered) else { return }
        let stem = table == "vault" ? "passphrase" : "password"
        throw Self.failure(origin, "a \(stem) is never written in the configuration file.",
                      hint: "Put it in a file readable only by certvault (0600) and give \(stem)_file = \"PATH\", or \(stem)_fd = N, "
                        + "or \(stem)_credential = \"NAME\" with systemd's LoadCredential=; then remove this line.")
    }

    mutating func readEnvironment(_ environment: [String: String]) throws {
        // An unlock method or password source from the environment replaces the file's.
        let groups = [
            ServiceConfiguration.unlockKeys.map { "vault.\($0)" },
            ServiceConfiguration.passwordKeys.map { "vb365.\($0)" },
        ]
        for group in groups {
            let given = ServiceConfiguration.keys.filter {
                group.contains($0.qualified) && $0.environment.map { environment[$0]?.isEmpty == false } == true
            }
            if !given.isEmpty { for name in group { settings[name] = nil } }
        }
        for key in ServiceConfiguration.keys {
            // An empty variable counts as unset (CERTVAULT_POLICY= selects the built-in default).
            guard let variable = key.environment, let text = environment[variable], !text.isEmpty else { continue }
            let origin = "environment variable \(variable)"
            let value = try Self.value(text, kind: key.kind, origin: origin)
            try Self.check(value, kind: key.kind, origin: origin)
            settings[key.qualified] = ConfigurationSetting(value: value, origin: origin)
        }
    }

    /// An environment variable's text as the kind of value its key takes.
    private static func value(_ text: String, kind: ConfigurationKind, origin: String) throws -> TOMLValue {
        switch kind {
        case .integer:
            guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw Self.failure(origin, "'\(DisplayText.escapingControls(text, limit: 40))' is not a whole number.", hint: "Give \(kind.expectation).")
            }
            return .integer(number)
        case .boolean:
            switch text.lowercased() {
            case "true", "1", "yes": return .boolean(true)
            case "false", "0", "no": return .boolean(false)
            default: throw Self.failure(origin, "'\(DisplayText.escapingControls(text, limit: 40))' is not a boolean.", hint: "Give true or false.")
            }
        case .stringArray:
            return .array(text.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 != .string("") })
        case .integerArray:
            var items: [TOMLValue] = []
            for part in text.split(separator: ",") {
                guard let number = Int(part.trimmingCharacters(in: .whitespaces)) else {
                    throw Self.failure(origin, "'\(DisplayText.escapingControls(String(part), limit: 40))' is not a whole number.",
                                       hint: "Give whole numbers separated by commas, e.g. 60,30,14,7,1.")
                }
                items.append(.integer(number))
            }
            return .array(items)
        case .string, .path, .credentialName, .choice:
            return .string(text)
        }
    }

    /// Checks a value's type and range.
    private static func check(_ value: TOMLValue, kind: ConfigurationKind, origin: String) throws {
        let wrongType = { failure(origin, "expected \(kind.expectation), found \(value.typeName).", hint: "Write it as \(kind.expectation).") }
        switch kind {
        case .string, .path, .credentialName, .choice:
            guard case .string(let text) = value else { throw wrongType() }
            guard !text.isEmpty else { throw Self.failure(origin, "the value is empty.", hint: "Give \(kind.expectation), or leave the key out.") }
            guard !text.unicodeScalars.contains(where: DisplayText.needsEscape) else {
                throw Self.failure(origin, "control characters are not allowed.", hint: "Give \(kind.expectation) without control characters.")
            }
            if case .choice(let values) = kind, !values.contains(text) {
                let near = values.first { $0.lowercased() == text.lowercased() }
                throw Self.failure(origin, "'\(DisplayText.escapingControls(text, limit: 40))' is not allowed.",
                              hint: (near.map { "Did you mean \"\($0)\"? " } ?? "") + "Give \(kind.expectation).")
            }
            if case .credentialName = kind, text.contains("/") || text == "." || text == ".." {
                throw Self.failure(origin, "a credential name is a file name, not a path.",
                              hint: "Give the name used in LoadCredential=NAME:PATH (letters, digits, '-', '_', '.'), e.g. \"vault-passphrase\".")
            }
        case .integer(let range):
            guard case .integer(let number) = value else { throw wrongType() }
            guard range.contains(number) else {
                throw Self.failure(origin, "\(number) is out of range.", hint: "Give \(kind.expectation).")
            }
        case .boolean:
            guard case .boolean = value else { throw wrongType() }
        case .stringArray:
            guard case .array(let items) = value else { throw wrongType() }
            for item in items {
                guard case .string(let text) = item, !text.isEmpty else {
                    throw Self.failure(origin, "every entry must be a non-empty string.", hint: "Write it as \(kind.expectation).")
                }
            }
        case .integerArray(let range):
            guard case .array(let items) = value, !items.isEmpty else {
                throw failure(origin, "expected \(kind.expectation).", hint: "Write it as \(kind.expectation).")
            }
            for item in items {
                guard case .integer(let number) = item, range.contains(number) else {
                    throw Self.failure(origin, "every entry must be a whole number from \(range.lowerBound) to \(range.upperBound).",
                                       hint: "Write it as \(kind.expectation).")
                }
            }
        }
    }

    /// "Did you mean 'x'? " when a name is close to an allowed one (edit distance at most 2, or a prefix).
    static func suggestion(_ name: String, among names: [String], brackets: Bool) -> String {
        let lowered = name.lowercased()
        let best = names.map { ($0, editDistance(lowered, $0)) }.min { $0.1 < $1.1 }
        guard let best, best.1 <= max(2, name.count / 4) || best.0.hasPrefix(lowered) && lowered.count >= 3 else { return "" }
        return brackets ? "Did you mean [\(best.0)]? " : "Did you mean '\(best.0)'? "
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    // MARK: Building the values

    private func string(_ key: String) -> String? {
        if case .string(let text)? = settings[key]?.value { return text }
        return nil
    }

    private func integer(_ key: String) -> Int? {
        if case .integer(let number)? = settings[key]?.value { return number }
        return nil
    }

    private func strings(_ key: String) -> [String] {
        guard case .array(let items)? = settings[key]?.value else { return [] }
        return items.compactMap { if case .string(let text) = $0 { text } else { nil } }
    }

    private func buildStorage(_ configuration: inout ServiceConfiguration, environment: [String: String]) throws {
        var storage = ServiceConfiguration.StorageSettings()
        if let backend = string("storage.backend") { storage.backend = backend == "postgres" ? .postgres : .files }
        storage.url = string("storage.url")
        storage.password = try secretSource(table: "storage", stem: "password", environment: environment)
        storage.caFile = string("storage.ca_file")
        if let size = integer("storage.pool_size") { storage.poolSize = size }
        if let seconds = integer("storage.timeout") { storage.timeoutSeconds = seconds }
        storage.replicaID = string("storage.replica_id")
        if let seconds = integer("storage.lease_seconds") { storage.leaseSeconds = seconds }
        if storage.backend == .postgres, storage.url == nil {
            throw Self.failure(origin("storage.backend"), "storage is \"postgres\" but no url is given.",
                               hint: "Add url = \"postgres://USER@HOST:5432/DATABASE\" and password_file = \"PATH\" to [storage].")
        }
        configuration.storage = storage
    }

    private func buildPortal(_ configuration: inout ServiceConfiguration) throws {
        var portal = ServiceConfiguration.PortalSettings()
        if let url = string("portal.public_url") {
            let lowered = url.lowercased()
            guard lowered.hasPrefix("https://") || (lowered.hasPrefix("http://") && configuration.tls == .plainLoopback) else {
                throw Self.failure(origin("portal.public_url"), "the portal's public URL must start with https://.",
                                   hint: "Write the address customers open, e.g. \"https://onboard.provider.example\" (http:// only "
                                     + "with [tls] mode = \"plain-loopback\").")
            }
            portal.publicURL = url
        }
        if let name = string("portal.provider_name") { portal.providerName = name }
        portal.providerLogo = string("portal.provider_logo")
        if let logo = portal.providerLogo, !(logo.lowercased().hasSuffix(".png") || logo.lowercased().hasSuffix(".svg")) {
            throw Self.failure(origin("portal.provider_logo"), "the logo must be a .png or .svg file.", hint: "Give the path of a PNG or SVG file.")
        }
        portal.contact = string("portal.contact")
        portal.extraFields = strings("portal.extra_fields")
        guard Set(portal.extraFields.map { $0.lowercased() }).count == portal.extraFields.count, portal.extraFields.count <= 10,
              portal.extraFields.allSatisfy({ $0.count <= 60 }) else {
            throw Self.failure(origin("portal.extra_fields"), "extra fields must be at most 10 distinct labels of up to 60 characters.",
                               hint: "Write e.g. [\"Contract number\", \"Billing reference\"].")
        }
        if let days = integer("portal.invitation_days") { portal.invitationDays = days }
        if let minutes = integer("portal.session_minutes") { portal.sessionMinutes = minutes }
        if let seconds = integer("portal.status_poll_seconds") { portal.statusPollSeconds = seconds }
        configuration.portal = portal
    }

    private func origin(_ key: String) -> String { settings[key]?.origin ?? "\(fileName), [\(key.split(separator: ".")[0])]" }

    /// The source of a secret given as `STEM_file`, `STEM_fd` or `STEM_credential` in `table`; at most one.
    private func secretSource(table: String, stem: String, environment: [String: String]) throws -> SecretSource? {
        let names = ["\(stem)_file", "\(stem)_fd", "\(stem)_credential"].map { "\(table).\($0)" }
        let given = names.filter { settings[$0] != nil }
        if table == "vault", settings["vault.key_file"] != nil, let other = given.first {
            throw Self.failure(origin(other), "the vault has two unlock methods (key_file and \(other.dropFirst(6))).",
                          hint: "Give exactly one of key_file, passphrase_file, passphrase_fd, passphrase_credential "
                            + "(also set by \(settings["vault.key_file"]!.origin)).")
        }
        guard given.count <= 1 else {
            let list = given.map { String($0.split(separator: ".")[1]) }.joined(separator: " and ")
            throw Self.failure(origin(given[1]), "two sources for the \(stem) (\(list)).",
                          hint: "Give exactly one of \(stem)_file, \(stem)_fd, \(stem)_credential (also set by \(origin(given[0]))).")
        }
        guard let name = given.first else { return nil }
        if name.hasSuffix("_fd"), let fd = integer(name) { return .fileDescriptor(Int32(fd)) }
        guard let text = string(name) else { return nil }
        if name.hasSuffix("_credential") {
            guard let folder = environment["CREDENTIALS_DIRECTORY"], !folder.isEmpty else {
                throw Self.failure(origin(name), "CREDENTIALS_DIRECTORY is not set, so the systemd credential '\(text)' cannot be found.",
                              hint: "Run certvault under systemd with LoadCredential=\(text):/PATH in the unit (systemd sets "
                                + "CREDENTIALS_DIRECTORY), or use \(stem)_file = \"PATH\" instead.")
            }
            return .file(folder.hasSuffix("/") ? folder + text : folder + "/" + text)
        }
        return .file(text)
    }

    func build(environment: [String: String]) throws -> ServiceConfiguration {
        var configuration = ServiceConfiguration()
        configuration.source = source

        if let host = string("listen.host") { configuration.listen.host = host }
        if let port = integer("listen.port") { configuration.listen.port = port }

        let mode = string("tls.mode") ?? "self-signed"
        let certificate = string("tls.certificate"), key = string("tls.key")
        switch mode {
        case "files":
            guard let certificate, let key else {
                let missing = certificate == nil ? "certificate" : "key"
                throw Self.failure(origin("tls.mode"), "mode = \"files\" needs both certificate and key; \(missing) is missing.",
                              hint: "Add \(missing) = \"/etc/certvault/tls/\(missing == "key" ? "key" : "cert").pem\" to [tls] "
                                + "(or CERTVAULT_TLS_\(missing.uppercased())), or use mode = \"self-signed\" for local use.")
            }
            configuration.tls = .files(certificate: certificate, key: key)
        default:
            let extra: String? = certificate != nil ? "tls.certificate" : key != nil ? "tls.key" : nil
            if let extra {
                throw Self.failure(origin(extra), "a certificate or key is only used with mode = \"files\" (the mode is \"\(mode)\").",
                              hint: "Set mode = \"files\" in [tls], or remove certificate and key.")
            }
            if mode == "plain-loopback" {
                guard Self.isLoopback(configuration.listen.host) else {
                    throw Self.failure(origin("tls.mode"),
                                  "mode = \"plain-loopback\" serves plain HTTP, but the listen host "
                                    + "'\(DisplayText.escapingControls(configuration.listen.host, limit: 60))' is not a loopback address.",
                                  hint: "Listen on 127.0.0.1, ::1 or localhost with plain-loopback, or use mode = \"files\" with a certificate.")
                }
                configuration.tls = .plainLoopback
            } else {
                configuration.tls = .selfSigned
            }
        }

        if let path = string("vault.path") { configuration.vault.path = path }
        if let source = try secretSource(table: "vault", stem: "passphrase", environment: environment) {
            configuration.vault.unlock = .passphrase(source)
        } else if let keyFile = string("vault.key_file") {
            configuration.vault.unlock = .keyFile(keyFile)
        }

        var vb365 = ServiceConfiguration.VB365Settings()
        vb365.url = string("vb365.url")
        vb365.user = string("vb365.user")
        vb365.password = try secretSource(table: "vb365", stem: "password", environment: environment)
        vb365.caFile = string("vb365.ca_file")
        vb365.pin = string("vb365.pin")
        vb365.apiVersion = string("vb365.api_version")
        if case .boolean(let allow)? = settings["vb365.allow_plain_http_loopback"]?.value { vb365.allowPlainHTTPLoopback = allow }
        if case .array(let hosts)? = settings["vb365.verification_hosts"]?.value {
            vb365.verificationHosts = hosts.compactMap { if case .string(let text) = $0 { text } else { nil } }
            if vb365.verificationHosts.isEmpty || vb365.verificationHosts.contains(where: { $0.contains("://") || $0.contains(" ") }) {
                throw Self.failure(origin("vb365.verification_hosts"), "entries must be host or host/path-prefix, without a scheme or spaces.",
                              hint: "Write e.g. [\"login.microsoftonline.us\", \"microsoft.com/deviceloginus\"].")
            }
        }
        if let seconds = integer("vb365.connect_timeout") { vb365.connectTimeout = Double(seconds) }
        if let seconds = integer("vb365.timeout") { vb365.timeout = Double(seconds) }
        // Plain http:// is checked where the client is made: the CLI's --allow-plain-http-loopback can allow it.
        if let url = vb365.url, !url.lowercased().hasPrefix("https://"), !url.lowercased().hasPrefix("http://") {
            throw Self.failure(origin("vb365.url"), "the URL must start with https://.", hint: "Write e.g. \"https://vb365.example:4443\".")
        }
        if let pin = vb365.pin, !pin.hasPrefix("sha256//") {
            throw Self.failure(origin("vb365.pin"), "a pin is written as curl spells it, sha256//BASE64.",
                          hint: "Give the server key's SHA-256 pin, e.g. the 'pin:' line 'certvault vb365 simulate' prints.")
        }
        configuration.vb365 = vb365

        if let region = string("onboarding.region") { configuration.onboarding.region = region }
        configuration.onboarding.services = string("onboarding.services")
        configuration.onboarding.policy = string("onboarding.policy")
        if let seconds = integer("onboarding.poll_interval") { configuration.onboarding.pollInterval = Double(seconds) }
        if let count = integer("onboarding.concurrency") { configuration.onboarding.concurrency = count }
        if let folder = string("onboarding.state_dir") { configuration.onboarding.stateDirectory = folder }
        configuration.tokenStore = string("tokens.store")
        if let folder = string("policy.folder") { configuration.policyFolder = folder }
        if let bytes = integer("limits.max_request_body_bytes") { configuration.maxRequestBodyBytes = bytes }
        if let seconds = integer("limits.shutdown_grace_seconds") { configuration.shutdownGraceSeconds = Double(seconds) }
        if let count = integer("limits.blocking_threads") { configuration.blockingThreads = count }

        try buildPortal(&configuration)
        if case .boolean(let on)? = settings["renewal.enabled"]?.value { configuration.renewal.enabled = on }
        if case .array(let days)? = settings["renewal.reminder_days"]?.value {
            let numbers = days.compactMap { if case .integer(let n) = $0 { n } else { nil } }
            guard Set(numbers).count == numbers.count else {
                throw Self.failure(origin("renewal.reminder_days"), "a day is listed twice.", hint: "List each day once, e.g. [60, 30, 14, 7, 1].")
            }
            configuration.renewal.reminderDays = numbers.sorted(by: >)
        }
        if let hours = integer("renewal.interval_hours") { configuration.renewal.intervalHours = hours }
        if case .boolean(let on)? = settings["renewal.check_drift"]?.value { configuration.renewal.checkDrift = on }

        var webhooks = ServiceConfiguration.WebhookSettings()
        webhooks.urls = strings("webhooks.urls")
        for url in webhooks.urls where !url.lowercased().hasPrefix("https://") && !url.lowercased().hasPrefix("http://") {
            throw Self.failure(origin("webhooks.urls"), "'\(DisplayText.escapingControls(url, limit: 80))' is not an http(s) URL.",
                               hint: "Write e.g. \"https://hooks.provider.example/certvault\".")
        }
        webhooks.secret = try secretSource(table: "webhooks", stem: "secret", environment: environment)
        if !webhooks.urls.isEmpty, webhooks.secret == nil {
            throw Self.failure(origin("webhooks.urls"), "webhooks are configured without a signing key.",
                               hint: "Give secret_file = \"PATH\" (a file of at least 32 random bytes, 0600), secret_fd or "
                                 + "secret_credential in [webhooks]; receivers check each event's HMAC-SHA256 signature with it.")
        }
        webhooks.caFile = string("webhooks.ca_file")
        if case .boolean(let allow)? = settings["webhooks.allow_plain_http_loopback"]?.value { webhooks.allowPlainHTTPLoopback = allow }
        if let seconds = integer("webhooks.timeout") { webhooks.timeout = seconds }
        if let count = integer("webhooks.max_attempts") { webhooks.maxAttempts = count }
        webhooks.outbox = string("webhooks.outbox")
        configuration.webhooks = webhooks
        try buildStorage(&configuration, environment: environment)
        return configuration
    }

    /// `localhost`, or an IPv4 address in 127.0.0.0/8, or `::1` (also as `[::1]`).
    static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, bare, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { bytes in bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1 }
        }
        return false
    }
}

extension ServiceConfiguration {
    /// The `[vault]` keys that choose how it is unlocked; exactly one at most.
    static let unlockKeys = ["key_file", "passphrase_file", "passphrase_fd", "passphrase_credential"]
    /// The `[vb365]` keys that say where the password comes from.
    static let passwordKeys = ["password_file", "password_fd", "password_credential"]
}
