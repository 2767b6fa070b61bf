import CertVaultCore
import CertVaultPolicy
import CertVaultTesting
import Testing

@Suite("Shipped policy files")
struct ShippedPolicyTests {
    @Test("policy/default.toml spells out exactly the built-in defaults")
    func defaultPolicy() throws {
        let policy = try PolicyLoader.load(path: TestEnvironment.policy("default"))
        var expected = IssuancePolicy.defaults
        expected.subject = policy.subject
        #expect(policy == expected)
        #expect(policy.keyBits == 2048)
        #expect(policy.digest == .sha256)
        #expect(policy.validityDays == 730)
        #expect(policy.pkcs12.profile == .compat)
        #expect(policy.pkcs12.iterations > 2048)
        #expect(policy.password.length >= 24)
    }

    @Test("policy/veeam-sample.toml reproduces the by-hand example certificate")
    func veeamSample() throws {
        let policy = try PolicyLoader.load(path: TestEnvironment.policy("veeam-sample"))
        #expect(policy.name == "veeam-sample")
        #expect(policy.keyBits == 4096)
        #expect(policy.validityDays == 3650)
        #expect(policy.subject.map(\.type) == [.C, .ST, .L, .O, .OU, .CN])
        #expect(policy.subject.map(\.value.source) == ["US", "Kentucky", "Lexington", "Veeam Software", "VCSP", "{org}"])
        #expect(policy.friendlyName.source == "{org} VB365 Tenant")
        #expect(policy.password.allowSupplied == false)
    }
}

@Suite("Policy validation names the file, the line, what is wrong and what is allowed")
struct PolicyValidationTests {
    static let subject = "\n[subject]\nCN = \"{org}\"\n"

    @Test("bad policies", arguments: [
        ("[key]\nbitz = 2048" + subject, "p.toml:2: unknown key 'bitz' in [key] (did you mean 'bits'?)"),
        ("[key]\nbits = 1024" + subject, "p.toml:2: [key] bits = 1024 is not allowed (Entra ID needs at least 2048 bits); use one of 2048, 3072, 4096"),
        ("[key]\nbits = 2000" + subject, "use one of 2048, 3072, 4096"),
        ("[key]\nalgorithm = \"EC\"" + subject, "p.toml:2: [key] algorithm = \"EC\" is not allowed; Microsoft Entra ID accepts only RSA"),
        ("[key]\nalgorithm = \"Ed25519\"" + subject, "accepts only RSA"),
        ("[certificate]\nvalidity_days = 0" + subject, "p.toml:2: [certificate] validity_days = 0 is out of range; allowed are 1 to"),
        ("[certificate]\nvalidity_days = -30" + subject, "validity_days = -30 is out of range"),
        ("[certificate]\nvalidity_days = \"730\"" + subject, "p.toml:2: [certificate] validity_days must be a whole number, not a string"),
        ("[certificate]\ndigest = \"sha1\"" + subject, "digest = \"sha1\" is not allowed; use one of \"sha256\", \"sha384\", \"sha512\""),
        ("[certificate]\nfriendly_name = \"{orgname} VB365\"" + subject, "p.toml:2: [certificate] friendly_name = \"{orgname} VB365\": unknown variable '{orgname}'; known variables are {tenant}, {org}, {domain}, {date}"),
        ("[certificate]\nfriendly_name = \"{org\"" + subject, "a '{' is not closed"),
        ("[subject]\nC = \"USA\"\nCN = \"x\"", "p.toml:2: [subject] C must be a two-letter upper-case ISO 3166 country code such as 'US', not 'USA'"),
        ("[subject]\nCN = \"{tenant\"", "p.toml:2: [subject] CN = \"{tenant\": a '{' is not closed"),
        ("[subject]\nE = \"a@b\"\nCN = \"x\"", "p.toml:2: unknown key 'E' in [subject]; allowed keys are C, ST, L, O, OU, CN"),
        ("[subject]\nO = \"" + String(repeating: "o", count: 65) + "\"\nCN = \"x\"", "O is 65 characters long; X.509 allows at most 64"),
        ("[subject]\nO = \"x\"", "the [subject] table with at least CN is required"),
        ("[key]\nbits = 2048", "the [subject] table with at least CN is required"),
        ("[keys]\nbits = 2048" + subject, "p.toml:1: unknown table [keys] (did you mean 'key'?)"),
        ("[pkcs12]\nprofile = \"legacy\"" + subject, "profile = \"legacy\" is not allowed; use one of \"compat\", \"modern\""),
        ("[pkcs12]\niterations = 1000" + subject, "iterations = 1000 is out of range; allowed are 2048 to 600000"),
        ("[pkcs12]\niterations = 1000000" + subject, "allowed are 2048 to 600000"),
        ("[password]\nlength = 12" + subject, "[password] length = 12 is out of range; allowed are 24 to 128"),
        ("[password]\nallow_supplied = \"yes\"" + subject, "allow_supplied must be true or false, not a string"),
        ("[extensions]\nkey_usage = [\"keyEncipherment\"]" + subject, "key_usage must include \"digitalSignature\""),
        ("[extensions]\nkey_usage = [\"digitalSignature\", \"keyCertSign\"]" + subject, "has \"keyCertSign\", which is not allowed"),
        ("[extensions]\nextended_key_usage = \"clientAuth\"" + subject, "extended_key_usage must be an array of strings, not a string"),
        ("[renewal]\nrenew_before_days = 800" + subject, "renew_before_days (800) must be less than [certificate] validity_days (730)"),
        ("[key]\nbits = 2048\nbits = 4096" + subject, "p.toml:3: key 'bits' is set twice in the same table"),
        ("[key]\n[key]" + subject, "p.toml:2: table [key] appears twice"),
        ("[key]\nbits = 20.48" + subject, "p.toml:2: '20.48' is not supported"),
        ("[certificate]\ndigest = sha256" + subject, "p.toml:2: 'sha256' is not a valid value; strings need quotes"),
        ("[certificate]\nfriendly_name = \"open" + subject, "p.toml:2: string is not closed on this line"),
        ("[key]\nbits = 2048 extra" + subject, "p.toml:2: unexpected text after the value"),
        ("[key]\nbits =" + subject, "p.toml:2: missing value after '='"),
        ("[subject]\nCN = { a = 1 }", "inline tables are not supported"),
        ("[[key]]" + subject, "arrays of tables ('[[...]]') are not supported"),
        ("key.bits = 2048" + subject, "dotted keys are not supported"),
        ("[extensions]\nextended_key_usage = [[\"clientAuth\"]]" + subject, "p.toml:2: nested arrays are not supported"),
        ("name = \"\\u+041\"" + subject, "p.toml:1: invalid \\u escape in string"),
        ("name = \"bell\\u0007\"" + subject, "p.toml:1: control characters are not allowed in policy strings"),
        ("nmae = \"x\"" + subject, "p.toml:1: unknown key 'nmae' in the top level (did you mean 'name'?)"),
    ])
    func refuses(_ text: String, _ message: String) throws {
        let error = try #require(throws: CertVaultError.self) { try PolicyLoader.parse(text, source: "p.toml") }
        #expect(error.code == .invalidPolicy)
        #expect(error.reason.contains(message), "\(error.reason)")
        #expect(error.hint?.contains("docs/policy.md") == true)
    }

    @Test("a missing policy file says so and how to give one")
    func missingFile() throws {
        let error = try #require(throws: CertVaultError.self) { try PolicyLoader.load(path: "/nonexistent/policy.toml") }
        #expect(error.reason == "Policy file '/nonexistent/policy.toml' does not exist.")
        #expect(error.hint?.contains("--policy") == true)
    }

    @Test("a binary file is refused as not UTF-8")
    func binaryFile() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("bin.toml", bytes: [0xFF, 0xFE, 0x00, 0x41])
        let error = try #require(throws: CertVaultError.self) { try PolicyLoader.load(path: path) }
        #expect(error.reason.contains("not valid UTF-8"))
    }

    @Test("a minimal policy takes every other value from the defaults")
    func minimal() throws {
        let policy = try PolicyLoader.parse("[subject]\nCN = \"{tenant}\"\n", source: "p.toml", defaultName: "p")
        #expect(policy.name == "p")
        #expect(policy.keyBits == IssuancePolicy.defaults.keyBits)
        #expect(policy.pkcs12 == IssuancePolicy.defaults.pkcs12)
    }

    @Test("TOML details: comments, literal strings, escapes, multi-line arrays, underscores in numbers")
    func tomlDetails() throws {
        let text = """
            # comment
            name = 'lit\\eral'   # trailing comment
            [pkcs12]
            iterations = 100_000
            [extensions]
            extended_key_usage = [
                "clientAuth",   # for Entra ID
                "serverAuth",
            ]
            [subject]
            CN = "Caf\\u00E9 \\"Q\\" {org}"
            """
        let policy = try PolicyLoader.parse(text, source: "p.toml")
        #expect(policy.name == "lit\\eral")
        #expect(policy.pkcs12.iterations == 100_000)
        #expect(policy.pkcs12.macIterations == 100_000)
        #expect(policy.extensions.extendedKeyUsage == [.clientAuth, .serverAuth])
        #expect(policy.subject[0].value.source == "Café \"Q\" {org}")
    }
}

@Suite("Templates")
struct TemplateTests {
    @Test("fills in variables")
    func render() throws {
        let template = try Template("{org} ({tenant}) {domain} {date}")
        let values = TemplateValues(tenant: try TenantID("contoso"), org: "Contoso", domain: "contoso.onmicrosoft.com", date: "2026-11-26")
        #expect(try template.render(values, for: "x") == "Contoso (contoso) contoso.onmicrosoft.com 2026-11-26")
        #expect(template.variables == [.org, .tenant, .domain, .date])
    }

    @Test("org defaults to the tenant id; a missing domain is a clear error")
    func missing() throws {
        let values = TemplateValues(tenant: try TenantID("contoso"), date: "2026-11-26")
        #expect(try Template("{org}").render(values, for: "x") == "contoso")
        let error = try #require(throws: CertVaultError.self) { try Template("{domain}").render(values, for: "CN") }
        #expect(error.code == .missingTemplateValue)
        #expect(error.hint?.contains("--domain") == true)
    }

    @Test("unbalanced braces are refused", arguments: ["{org", "org}", "{}", "{Org}"])
    func unbalanced(_ text: String) {
        #expect(throws: TemplateError.self) { try Template(text) }
    }
}

@Suite("Policy files: control characters")
struct PolicyControlCharacterTests {
    static let subject = "\n[subject]\nCN = \"{org}\"\n"

    @Test("control characters in strings are refused, however written", arguments: [
        "name = \"two\\nlines\"", "name = \"tab\\there\"", "name = 'raw\u{1B}[2Jesc'", "name = \"raw\u{9B}31mcsi\"",
        "name = \"rtl\u{202E}txt\"", "[certificate]\nfriendly_name = \"a\\u001b]0;t\\u0007\"",
    ])
    func refused(_ line: String) throws {
        let error = try #require(throws: CertVaultError.self) { try PolicyLoader.parse(line + Self.subject, source: "p.toml") }
        #expect(error.code == .invalidPolicy)
        #expect(error.reason.contains("control characters are not allowed in policy strings"), "\(error.reason)")
        #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape), "\(error.reason.debugDescription)")
    }

    @Test("text from the file in an error is shown escaped", arguments: [
        "na\u{1B}]0;owned\u{07}me = \"x\"", "[certificate]\ndigest = sha\u{1B}[2J256", "[key]\nalgorithm = \"RSA\u{202E}\"",
        "[ke\u{1B}y]", "name = \"x\" \u{1B}[31m",
    ])
    func echoedEscaped(_ text: String) throws {
        let error = try #require(throws: CertVaultError.self) { try PolicyLoader.parse(text + Self.subject, source: "p.toml") }
        #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape), "\(error.reason.debugDescription)")
        #expect(error.reason.hasPrefix("p.toml:"), "\(error.reason)")
    }
}

@Suite("Policy files: a file name with control characters")
struct PolicyFileNameTests {
    @Test("the policy's default name, taken from the file name, has its control characters escaped")
    func escapedName() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("evil\u{1B}[2J.toml", "[subject]\nCN = \"{org}\"\n")
        let policy = try PolicyLoader.load(path: path)
        #expect(policy.name == "evil\\u{1B}[2J")
    }
}
