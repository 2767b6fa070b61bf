import CertVaultConfiguration
import CertVaultCore
import CertVaultTesting
import Foundation
import Testing

/// Loads `text` as the file `certvault.toml` in a new folder.
private func load(_ text: String, environment: [String: String] = [:]) throws -> ServiceConfiguration {
    let folder = try TemporaryDirectory()
    let path = try folder.write("certvault.toml", text)
    return try ServiceConfiguration.load(path: path, environment: environment)
}

/// The error loading `text` gives (the test fails when it loads).
private func failure(_ text: String, environment: [String: String] = [:]) throws -> CertVaultError {
    do {
        let configuration = try load(text, environment: environment)
        Issue.record("loaded without error: \(configuration)")
        throw CancellationError()
    } catch let error as CertVaultError {
        #expect(error.code == .invalidConfiguration)
        #expect(error.hint != nil)
        return error
    }
}

@Suite("Configuration file: values")
struct ConfigurationValuesTests {
    @Test("A complete file sets every value")
    func completeFile() throws {
        let folder = try TemporaryDirectory()
        let configuration = try load("""
            # certvault
            [listen]
            host = "0.0.0.0"
            port = 9443
            [tls]
            mode = "files"
            certificate = "/etc/certvault/tls/cert.pem"
            key = "/etc/certvault/tls/key.pem"
            [vault]
            path = "/srv/certvault/vault"
            passphrase_file = "/etc/certvault/passphrase"
            [vb365]
            url = "https://vb365.example:4443"
            user = 'VB365\\admin'
            password_fd = 3
            ca_file = "/etc/certvault/vb365-ca.pem"
            pin = "sha256//AAAA"
            api_version = "v7"
            verification_hosts = ["login.microsoftonline.us", "microsoft.com/deviceloginus"]
            connect_timeout = 5
            timeout = 30
            [onboarding]
            region = "USGovernment"
            services = "exchange,teams"
            policy = "strict"
            poll_interval = 7
            concurrency = 2
            state_dir = "/srv/certvault/onboarding"
            [tokens]
            store = "/srv/certvault/tokens"
            [policy]
            folder = "/etc/certvault/policy"
            [limits]
            max_request_body_bytes = 65536
            shutdown_grace_seconds = 5
            blocking_threads = 8
            """)
        _ = folder
        #expect(configuration.listen == .init(host: "0.0.0.0", port: 9443))
        #expect(configuration.tls == .files(certificate: "/etc/certvault/tls/cert.pem", key: "/etc/certvault/tls/key.pem"))
        #expect(configuration.vault.path == "/srv/certvault/vault")
        #expect(configuration.vault.unlock == .passphrase(.file("/etc/certvault/passphrase")))
        #expect(configuration.vb365.url == "https://vb365.example:4443")
        #expect(configuration.vb365.user == "VB365\\admin")
        #expect(configuration.vb365.password == .fileDescriptor(3))
        #expect(configuration.vb365.caFile == "/etc/certvault/vb365-ca.pem")
        #expect(configuration.vb365.pin == "sha256//AAAA")
        #expect(configuration.vb365.apiVersion == "v7")
        #expect(configuration.vb365.verificationHosts == ["login.microsoftonline.us", "microsoft.com/deviceloginus"])
        #expect(configuration.vb365.connectTimeout == 5 && configuration.vb365.timeout == 30)
        #expect(configuration.onboarding.region == "USGovernment")
        #expect(configuration.onboarding.services == "exchange,teams")
        #expect(configuration.onboarding.policy == "strict")
        #expect(configuration.onboarding.pollInterval == 7 && configuration.onboarding.concurrency == 2)
        #expect(configuration.onboarding.stateDirectory == "/srv/certvault/onboarding")
        #expect(configuration.tokenStorePath == "/srv/certvault/tokens")
        #expect(configuration.policyFolder == "/etc/certvault/policy")
        #expect(configuration.maxRequestBodyBytes == 65536)
        #expect(configuration.shutdownGraceSeconds == 5 && configuration.blockingThreads == 8)
        #expect(configuration.source?.hasSuffix("certvault.toml") == true)
    }

    @Test("No file and no CERTVAULT_CONFIG: the built-in defaults")
    func defaults() throws {
        let configuration = try ServiceConfiguration.load(path: nil, environment: [:])
        var expected = ServiceConfiguration()
        expected.source = nil
        #expect(configuration == expected)
        #expect(configuration.vault.unlock == .keyFile("keys/vault-key/root.key"))
        #expect(configuration.tls == .selfSigned)
    }

    @Test("CERTVAULT_CONFIG names the file when no path is given")
    func configFromEnvironment() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("c.toml", "[listen]\nport = 1234\n")
        let configuration = try ServiceConfiguration.load(path: nil, environment: ["CERTVAULT_CONFIG": path])
        #expect(configuration.listen.port == 1234)
        #expect(configuration.source == path)
        // An explicit path wins over the variable.
        let other = try folder.write("d.toml", "[listen]\nport = 4321\n")
        #expect(try ServiceConfiguration.load(path: other, environment: ["CERTVAULT_CONFIG": path]).listen.port == 4321)
    }

    @Test("plain-loopback on 127.0.0.1, ::1 and localhost")
    func plainLoopbackAllowed() throws {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] {
            #expect(try load("[listen]\nhost = \"\(host)\"\n[tls]\nmode = \"plain-loopback\"\n").tls == .plainLoopback)
        }
    }

    @Test("A systemd credential is read from $CREDENTIALS_DIRECTORY/NAME")
    func credentialsDirectory() throws {
        let credentials = try TemporaryDirectory()
        _ = try credentials.write("vault-passphrase", "correct horse battery staple\n")
        _ = try credentials.write("vb365-password", "s3cret\n")
        let configuration = try load("""
            [vault]
            passphrase_credential = "vault-passphrase"
            [vb365]
            password_credential = "vb365-password"
            """, environment: ["CREDENTIALS_DIRECTORY": credentials.path])
        #expect(configuration.vault.unlock == .passphrase(.file(credentials.path + "/vault-passphrase")))
        #expect(configuration.vb365.password == .file(credentials.path + "/vb365-password"))
        let secret = try #require(configuration.vb365.password).read()
        #expect(secret.withUnsafeBytes { Array($0) } == Array("s3cret".utf8))
    }
}

@Suite("Configuration file: errors name the file, the line and the key")
struct ConfigurationErrorTests {
    @Test("An unknown key is an error, with a suggestion when close")
    func unknownKey() throws {
        let error = try failure("[listen]\nhost = \"127.0.0.1\"\nprot = 8443\n")
        #expect(error.reason.contains("certvault.toml' line 3"))
        #expect(error.reason.contains("[listen] prot"))
        #expect(error.reason.contains("unknown key"))
        #expect(error.hint?.contains("Did you mean 'port'?") == true)
        let far = try failure("[vb365]\nfavourite_colour = \"blue\"\n")
        #expect(far.reason.contains("line 2") && far.reason.contains("favourite_colour"))
        #expect(far.hint?.contains("Did you mean") == false)
        #expect(far.hint?.contains("url, user, password_file") == true)
        #expect(!far.reason.contains("blue") && far.hint?.contains("blue") == false)
    }

    @Test("An unknown table is an error, with a suggestion when close")
    func unknownTable() throws {
        let error = try failure("[listen]\nport = 1\n\n[vb356]\nurl = \"https://x\"\n")
        #expect(error.reason.contains("line 4") && error.reason.contains("[vb356]") && error.reason.contains("unknown table"))
        #expect(error.hint?.contains("Did you mean [vb365]?") == true)
    }

    @Test("A key outside any table is an error")
    func keyOutsideTable() throws {
        let error = try failure("port = 8443\n")
        #expect(error.reason.contains("line 1") && error.reason.contains("'port'"))
    }

    @Test("A syntax error names the line")
    func syntaxError() throws {
        let error = try failure("[listen]\nhost = 127.0.0.1\n")
        #expect(error.reason.contains("certvault.toml' line 2"))
        let float = try failure("[vb365]\n\ntimeout = 2.5\n")
        #expect(float.reason.contains("line 3"))
    }

    @Test("A wrong type names the key, the line and what is expected")
    func wrongType() throws {
        let error = try failure("[listen]\nport = \"8443\"\n")
        #expect(error.reason.contains("line 2, [listen] port"))
        #expect(error.reason.contains("expected a whole number from 0 to 65535, found a string"))
        let boolean = try failure("[vb365]\nallow_plain_http_loopback = \"yes\"\n")
        #expect(boolean.reason.contains("line 2, [vb365] allow_plain_http_loopback") && boolean.reason.contains("true or false"))
        let array = try failure("[vb365]\nverification_hosts = \"login.microsoftonline.us\"\n")
        #expect(array.reason.contains("verification_hosts") && array.reason.contains("an array of strings"))
    }

    @Test("An out-of-range port is refused")
    func portRange() throws {
        let error = try failure("[listen]\n\nport = 70000\n")
        #expect(error.reason.contains("line 3, [listen] port") && error.reason.contains("70000 is out of range"))
        #expect(error.hint?.contains("0 to 65535") == true)
        #expect(try failure("[listen]\nport = -1\n").reason.contains("port"))
    }

    @Test("An unknown choice is refused with the allowed ones")
    func badChoice() throws {
        let error = try failure("[tls]\nmode = \"Self-Signed\"\n")
        #expect(error.reason.contains("line 2, [tls] mode"))
        #expect(error.hint?.contains("Did you mean \"self-signed\"?") == true)
        let region = try failure("[onboarding]\nregion = \"Mars\"\n")
        #expect(region.reason.contains("[onboarding] region") && region.hint?.contains("\"Worldwide\"") == true)
    }

    @Test("mode = files needs both certificate and key")
    func filesNeedCertificateAndKey() throws {
        let error = try failure("[tls]\nmode = \"files\"\ncertificate = \"/etc/cert.pem\"\n")
        #expect(error.reason.contains("line 2, [tls] mode") && error.reason.contains("key is missing"))
        let certificate = try failure("[tls]\nkey = \"/etc/key.pem\"\nmode = \"files\"\n")
        #expect(certificate.reason.contains("line 3") && certificate.reason.contains("certificate is missing"))
        let stray = try failure("[tls]\nmode = \"self-signed\"\ncertificate = \"/etc/cert.pem\"\n")
        #expect(stray.reason.contains("line 3, [tls] certificate"))
    }

    @Test("plain-loopback on a non-loopback host is refused")
    func plainLoopbackElsewhere() throws {
        for host in ["0.0.0.0", "192.168.1.10", "::", "vault.example"] {
            let error = try failure("[listen]\nhost = \"\(host)\"\n[tls]\nmode = \"plain-loopback\"\n")
            #expect(error.reason.contains("line 4, [tls] mode") && error.reason.contains("not a loopback address"))
        }
    }

    @Test("Two unlock methods at once are refused")
    func twoUnlockMethods() throws {
        let error = try failure("[vault]\nkey_file = \"/k\"\npassphrase_file = \"/p\"\n")
        #expect(error.reason.contains("line 3, [vault] passphrase_file") && error.reason.contains("two unlock methods"))
        let two = try failure("[vault]\npassphrase_fd = 3\npassphrase_file = \"/p\"\n")
        #expect(two.reason.contains("[vault] passphrase_") && two.reason.contains("two sources for the passphrase"))
        let passwords = try failure("[vb365]\npassword_file = \"/p\"\npassword_fd = 4\n")
        #expect(passwords.reason.contains("[vb365] password_") && passwords.reason.contains("two sources for the password"))
    }

    @Test("A passphrase or password written in the file is refused without repeating it")
    func plainSecrets() throws {
        let vault = try failure("[vault]\npath = \"/v\"\npassphrase = \"hunter2\"\n")
        #expect(vault.reason.contains("line 3, [vault] passphrase") && vault.reason.contains("never written in the configuration file"))
        #expect(vault.hint?.contains("passphrase_file") == true && vault.hint?.contains("passphrase_credential") == true)
        let vb365 = try failure("[vb365]\npassword = \"hunter2\"\n")
        #expect(vb365.reason.contains("line 2, [vb365] password") && vb365.hint?.contains("password_file") == true)
        for error in [vault, vb365] {
            #expect(!error.reason.contains("hunter2") && error.hint?.contains("hunter2") == false)
        }
    }

    @Test("A credential without CREDENTIALS_DIRECTORY is a clear error")
    func missingCredentialsDirectory() throws {
        let error = try failure("[vault]\npassphrase_credential = \"vault-passphrase\"\n")
        #expect(error.reason.contains("line 2, [vault] passphrase_credential") && error.reason.contains("CREDENTIALS_DIRECTORY is not set"))
        #expect(error.hint?.contains("LoadCredential=vault-passphrase:") == true)
        let path = try failure("[vb365]\npassword_credential = \"../etc/shadow\"\n")
        #expect(path.reason.contains("[vb365] password_credential") && path.reason.contains("not a path"))
    }

    @Test("A VB365 URL needs https:// (or http://); a pin needs sha256//")
    func vb365Checks() throws {
        let error = try failure("[vb365]\nurl = \"ftp://127.0.0.1:4443\"\n")
        #expect(error.reason.contains("line 2, [vb365] url") && error.hint?.contains("https://") == true)
        #expect(try load("[vb365]\nurl = \"http://127.0.0.1:4443\"\nallow_plain_http_loopback = true\n").vb365.allowPlainHTTPLoopback)
        let pin = try failure("[vb365]\npin = \"abcd\"\n")
        #expect(pin.reason.contains("line 2, [vb365] pin"))
    }

    @Test("A missing file names the path")
    func missingFile() throws {
        do {
            _ = try ServiceConfiguration.load(path: "/nonexistent/certvault.toml", environment: [:])
            Issue.record("loaded a missing file")
        } catch let error as CertVaultError {
            #expect(error.code == .invalidConfiguration && error.reason.contains("/nonexistent/certvault.toml"))
            #expect(error.hint?.contains("--config") == true)
        }
    }
}

@Suite("Configuration file: environment overrides")
struct ConfigurationEnvironmentTests {
    @Test("Environment variables override the file's values")
    func overrides() throws {
        let configuration = try load("""
            [listen]
            port = 8443
            [vault]
            path = "/srv/vault"
            passphrase_file = "/etc/certvault/passphrase"
            [vb365]
            url = "https://a.example:4443"
            user = "A\\\\one"
            password_file = "/etc/a"
            """, environment: [
                "CERTVAULT_LISTEN_PORT": "9000", "CERTVAULT_VAULT": "/other/vault", "CERTVAULT_KEY_FILE": "/other/root.key",
                "CERTVAULT_VB365_URL": "https://b.example:4443", "CERTVAULT_VB365_API_VERSION": "v6",
                "CERTVAULT_VB365_VERIFICATION_HOSTS": "login.microsoftonline.us, microsoft.com/deviceloginus",
                "CERTVAULT_VB365_PASSWORD_FD": "5", "CERTVAULT_POLICY": "strict", "CERTVAULT_ONBOARDING": "/srv/onboarding",
            ])
        #expect(configuration.listen.port == 9000)
        #expect(configuration.vault.path == "/other/vault")
        // The environment's unlock method replaces the file's: no "two unlock methods" error.
        #expect(configuration.vault.unlock == .keyFile("/other/root.key"))
        #expect(configuration.vb365.url == "https://b.example:4443")
        #expect(configuration.vb365.user == "A\\one")
        #expect(configuration.vb365.password == .fileDescriptor(5))
        #expect(configuration.vb365.apiVersion == "v6")
        #expect(configuration.vb365.verificationHosts == ["login.microsoftonline.us", "microsoft.com/deviceloginus"])
        #expect(configuration.onboarding.policy == "strict")
        #expect(configuration.onboarding.stateDirectory == "/srv/onboarding")
    }

    @Test("Environment values are checked like file values, and the error names the variable")
    func badEnvironment() throws {
        let port = try failure("", environment: ["CERTVAULT_LISTEN_PORT": "eighty"])
        #expect(port.reason.contains("environment variable CERTVAULT_LISTEN_PORT") && port.reason.contains("not a whole number"))
        let range = try failure("", environment: ["CERTVAULT_LISTEN_PORT": "65536"])
        #expect(range.reason.contains("CERTVAULT_LISTEN_PORT") && range.reason.contains("out of range"))
        let version = try failure("", environment: ["CERTVAULT_VB365_API_VERSION": "v9"])
        #expect(version.reason.contains("environment variable CERTVAULT_VB365_API_VERSION"))
        let mode = try failure("[listen]\nhost = \"10.0.0.1\"\n", environment: ["CERTVAULT_TLS_MODE": "plain-loopback"])
        #expect(mode.reason.contains("environment variable CERTVAULT_TLS_MODE") && mode.reason.contains("not a loopback"))
        let two = try failure("", environment: ["CERTVAULT_PASSPHRASE_FILE": "/p", "CERTVAULT_KEY_FILE": "/k"])
        #expect(two.reason.contains("environment variable CERTVAULT_PASSPHRASE_FILE") && two.reason.contains("two unlock methods"))
    }

    @Test("Environment variables apply without a file; the documented list is complete")
    func withoutFile() throws {
        let configuration = try ServiceConfiguration.load(path: nil, environment: ["CERTVAULT_VB365_USER": "VB365\\admin"])
        #expect(configuration.vb365.user == "VB365\\admin")
        let docs = try String(contentsOfFile: TestEnvironment.packageRoot + "/docs/configuration.md", encoding: .utf8)
        for name in ServiceConfiguration.environmentVariables + ["CERTVAULT_CONFIG", "CREDENTIALS_DIRECTORY"] {
            #expect(docs.contains(name), "docs/configuration.md does not mention \(name)")
        }
    }
}

@Suite("Configuration file: the shipped examples load")
struct ConfigurationExampleTests {
    static let environment = ["CREDENTIALS_DIRECTORY": "/run/credentials/certvault.service"]

    @Test("Every file in docs/examples loads")
    func exampleFiles() throws {
        let folder = TestEnvironment.packageRoot + "/docs/examples"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".toml") }.sorted()
        #expect(names.count >= 2)
        for name in names {
            let configuration = try ServiceConfiguration.load(path: folder + "/" + name, environment: Self.environment)
            #expect(configuration.vb365.url != nil, "\(name) names a VB365 server")
            #expect(configuration.vb365.password != nil, "\(name) names a password source")
        }
        let production = try ServiceConfiguration.load(path: folder + "/certvault.toml", environment: Self.environment)
        #expect(production.tls == .files(certificate: "/etc/certvault/tls/cert.pem", key: "/etc/certvault/tls/key.pem"))
        #expect(production.vault.unlock == .passphrase(.file("/run/credentials/certvault.service/vault-passphrase")))
        #expect(production.vb365.user == "CORP\\svc-vb365")
    }

    @Test("Every toml block of docs/configuration.md loads")
    func documentBlocks() throws {
        let text = try String(contentsOfFile: TestEnvironment.packageRoot + "/docs/configuration.md", encoding: .utf8)
        var blocks: [(line: Int, text: String)] = []
        var current: (line: Int, lines: [String])?
        for (index, line) in text.components(separatedBy: "\n").enumerated() {
            if current == nil, line == "```toml" {
                current = (index + 2, [])
            } else if let open = current {
                if line.hasPrefix("```") {
                    blocks.append((open.line, open.lines.joined(separator: "\n") + "\n"))
                    current = nil
                } else {
                    current?.lines.append(line)
                }
            }
        }
        #expect(blocks.count >= 2)
        for block in blocks {
            do {
                _ = try ServiceConfiguration.parse(text: block.text, source: "docs/configuration.md block at line \(block.line)",
                                                   environment: Self.environment)
            } catch {
                Issue.record("docs/configuration.md block at line \(block.line): \(error)")
            }
        }
    }
}

@Suite("Configuration file: portal, renewal and webhooks")
struct ConfigurationPortalRenewalWebhookTests {
    @Test("The three tables set their values; defaults without them")
    func values() throws {
        let defaults = try ServiceConfiguration.parse(text: "", source: nil, environment: [:])
        #expect(defaults.portal.providerName == "Your service provider")
        #expect(defaults.portal.invitationDays == 7)
        #expect(defaults.renewal.reminderDays == [60, 30, 14, 7, 1])
        #expect(defaults.webhooks.urls.isEmpty)
        #expect(defaults.portalPublicURL == "https://127.0.0.1:8443")
        #expect(defaults.webhookOutboxPath == "keys/webhooks")

        let configuration = try load("""
            [portal]
            public_url = "https://onboard.provider.example/"
            provider_name = "Fabrikam Cloud"
            provider_logo = "/etc/certvault/logo.svg"
            contact = "support@fabrikam.example"
            extra_fields = ["Contract number", "Billing reference"]
            invitation_days = 14
            session_minutes = 15
            status_poll_seconds = 2
            [renewal]
            enabled = false
            reminder_days = [7, 30, 1]
            interval_hours = 6
            check_drift = false
            [webhooks]
            urls = ["https://hooks.fabrikam.example/certvault"]
            secret_file = "/etc/certvault/webhook.key"
            timeout = 5
            max_attempts = 3
            outbox = "/srv/certvault/outbox"
            """)
        #expect(configuration.portalPublicURL == "https://onboard.provider.example")
        #expect(configuration.portal.providerName == "Fabrikam Cloud")
        #expect(configuration.portal.extraFields == ["Contract number", "Billing reference"])
        #expect(configuration.portal.invitationDays == 14)
        #expect(configuration.portal.sessionMinutes == 15)
        #expect(configuration.portal.statusPollSeconds == 2)
        #expect(configuration.renewal.enabled == false)
        #expect(configuration.renewal.reminderDays == [30, 7, 1])
        #expect(configuration.renewal.intervalHours == 6)
        #expect(configuration.webhooks.secret == .file("/etc/certvault/webhook.key"))
        #expect(configuration.webhooks.maxAttempts == 3)
        #expect(configuration.webhookOutboxPath == "/srv/certvault/outbox")

        let environment = try ServiceConfiguration.parse(
            text: "", source: nil, environment: ["CERTVAULT_RENEWAL_REMINDER_DAYS": "14, 3", "CERTVAULT_PORTAL_EXTRA_FIELDS": "PO number"])
        #expect(environment.renewal.reminderDays == [14, 3])
        #expect(environment.portal.extraFields == ["PO number"])
    }

    @Test("Webhooks without a signing key, a bad reminder list, a plain-http portal URL: clear errors")
    func errors() throws {
        let webhook = try failure("[webhooks]\nurls = [\"https://hooks.example/x\"]\n")
        #expect(webhook.reason.contains("without a signing key"))
        let reminders = try failure("[renewal]\nreminder_days = [30, 0]\n")
        #expect(reminders.reason.contains("line 2"))
        let twice = try failure("[renewal]\nreminder_days = [30, 30]\n")
        #expect(twice.reason.contains("twice"))
        let portal = try failure("[portal]\npublic_url = \"http://onboard.example\"\n")
        #expect(portal.reason.contains("https://"))
        let secret = try failure("[webhooks]\nsecret = \"hunter2\"\n")
        #expect(!secret.reason.contains("hunter2"))
    }
}
