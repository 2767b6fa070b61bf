import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultHTTP
import CertVaultVB365
import Foundation
import Logging

/// How to reach and log in to a VB365 server. The password never comes from an argument. Options
/// given here win over the configuration file's `[vb365]` table and the environment.
struct VB365ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The VB365 REST server, e.g. https://vb365.example:4443 (default: $CERTVAULT_VB365_URL).", valueName: "url"))
    var url: String?

    @Option(name: .long, help: ArgumentHelp("The VB365 account, often DOMAIN\\user (default: $CERTVAULT_VB365_USER).", valueName: "name"))
    var user: String?

    @Option(name: .long, help: ArgumentHelp("The REST API version: v6, v7 or v8 (default: detected).", valueName: "version"))
    var apiVersion: String?

    @Option(name: .long, help: ArgumentHelp("Trust the server through this CA bundle (PEM) alone, e.g. its self-signed certificate; the system CAs are then not consulted.", valueName: "path"))
    var caFile: String?

    @Option(name: .long, help: ArgumentHelp("Also require this public key, as curl spells it: sha256//BASE64.", valueName: "pin"))
    var pin: String?

    @Flag(name: .long, help: "Do not verify the server's certificate at all (warns on every request; for tests only).")
    var insecureSkipTLSVerify = false

    @Flag(name: .long, help: "Allow plain http:// to a loopback address (the simulator's --plain-http).")
    var allowPlainHTTPLoopback = false

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the connection (default: 10).", valueName: "seconds"))
    var connectTimeout: Double?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each whole request (default: 60).", valueName: "seconds"))
    var timeout: Double?

    @Option(name: .long, help: ArgumentHelp(
        "Where a device code's verification URL may point, comma-separated host or host/path-prefix entries; replaces Microsoft's device-login hosts for the region (default: $CERTVAULT_VB365_VERIFICATION_HOSTS, else the built-in list in docs/vb365-simulator.md).",
        valueName: "hosts"))
    var verificationHosts: String?

    @Option(name: .long, help: ArgumentHelp("Read the VB365 password from this file.", valueName: "path"))
    var vb365PasswordFile: String?

    @Option(name: .long, help: ArgumentHelp("Read the VB365 password from this open file descriptor.", valueName: "fd"))
    var vb365PasswordFd: Int32?

    @Flag(name: .long, help: "Read the VB365 password from standard input.")
    var vb365PasswordStdin = false

    @Option(name: .long, help: ArgumentHelp("Read the VB365 password from this environment variable.", valueName: "name"))
    var vb365PasswordEnv: String?

    static let passwordNames = "--vb365-password-file, --vb365-password-fd, --vb365-password-stdin, --vb365-password-env"

    func validate() throws {
        _ = try SecretChoice.pick(file: vb365PasswordFile, fd: vb365PasswordFd, stdin: vb365PasswordStdin, env: vb365PasswordEnv,
                                  options: Self.passwordNames)
        if let apiVersion, VB365APIVersion(rawValue: apiVersion.lowercased()) == nil {
            throw ValidationError("--api-version must be v6, v7 or v8.")
        }
        if insecureSkipTLSVerify && (caFile != nil || pin != nil) {
            throw ValidationError("--insecure-skip-tls-verify cannot be combined with --ca-file or --pin.")
        }
        guard (connectTimeout ?? 10) > 0, (timeout ?? 60) > 0 else { throw ValidationError("Timeouts must be positive numbers of seconds.") }
        if let hosts = verificationHostList, hosts.isEmpty || hosts.contains(where: { $0.contains("://") || $0.contains(" ") }) {
            throw ValidationError("--verification-hosts takes host or host/path-prefix entries separated by commas, such as 'login.microsoftonline.us,microsoft.com/deviceloginus'.")
        }
    }

    /// `--verification-hosts`, split at commas.
    var verificationHostList: [String]? {
        verificationHosts.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    /// The `[vb365]` settings of the configuration (file and environment) with this command's options over them.
    func settings(over base: ServiceConfiguration.VB365Settings) throws -> ServiceConfiguration.VB365Settings {
        var settings = base
        if let url { settings.url = url }
        if let user { settings.user = user }
        if let apiVersion { settings.apiVersion = apiVersion.lowercased() }
        if let caFile { settings.caFile = caFile }
        if let pin { settings.pin = pin }
        if insecureSkipTLSVerify {  // the flag wins over the file's ca_file and pin (with the flag's, validate() refuses it)
            settings.insecureSkipTLSVerify = true
            settings.caFile = nil
            settings.pin = nil
        }
        if allowPlainHTTPLoopback { settings.allowPlainHTTPLoopback = true }
        if let connectTimeout { settings.connectTimeout = connectTimeout }
        if let timeout { settings.timeout = timeout }
        if let hosts = verificationHostList { settings.verificationHosts = hosts }
        if let source = try SecretChoice.pick(file: vb365PasswordFile, fd: vb365PasswordFd, stdin: vb365PasswordStdin, env: vb365PasswordEnv,
                                              options: Self.passwordNames) {
            settings.password = source
        }
        return settings
    }

    /// The client for `configuration`'s VB365 settings with this command's options over them
    /// (`serverURL`, e.g. an onboarding record's, stands in for a URL neither gives).
    func makeClient(logger: Logger, configuration: ServiceConfiguration, serverURL: String? = nil) throws -> VB365Client {
        var settings = try settings(over: configuration.vb365)
        if settings.url == nil { settings.url = serverURL }
        return try settings.makeClient(userAgent: "certvault/\(CertVault.version)", logger: logger,
                                       passwordSourceNames: Self.passwordNames + ", or password_file/password_credential in [vb365] of --config")
    }
}
