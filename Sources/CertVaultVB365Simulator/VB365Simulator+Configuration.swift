public import CertVaultVB365

extension VB365Simulator {
    /// What the simulator serves and how it behaves.
    public struct Configuration: Sendable {
        /// The API version served; the others answer 404.
        public var version: VB365APIVersion
        /// Accepted accounts: user name to password.
        public var users: [String: String]
        /// Access-token lifetime in seconds (VB365's default is 3600).
        public var tokenLifetime: Int
        /// Device-code lifetime in seconds (about 900 at Microsoft).
        public var deviceCodeLifetime: Int
        /// Seconds after which a new device code counts as signed in; nil waits for the
        /// control surface.
        public var signInAfter: Double?
        /// Refuse AES (PBES2) encrypted PFX files as Windows Server 2016 does, with its
        /// misleading wrong-password message.
        public var windowsServer2016: Bool
        /// Keep organizations in this JSON file across restarts.
        public var storeFile: String?
        /// The Microsoft cloud each tenant really is in (by organization name); adding it with
        /// another region is refused, as Microsoft's sign-in would fail there.
        public var tenantRegions: [String: VB365Region] = [:]
        /// The name VB365 gives an organization, by the (lower-case) name it was added with; default the same.
        public var organizationNames: [String: String] = [:]

        /// A configuration; the defaults are VB365's and Microsoft's (v8, one account
        /// `VB365\admin`, tokens for an hour, device codes for 15 minutes, sign-in by the
        /// control surface only).
        public init(version: VB365APIVersion = .v8, users: [String: String] = ["VB365\\admin": "simulator"],
                    tokenLifetime: Int = 3600, deviceCodeLifetime: Int = 900, signInAfter: Double? = nil,
                    windowsServer2016: Bool = false, storeFile: String? = nil) {
            self.version = version
            self.users = users
            self.tokenLifetime = tokenLifetime
            self.deviceCodeLifetime = deviceCodeLifetime
            self.signInAfter = signInAfter
            self.windowsServer2016 = windowsServer2016
            self.storeFile = storeFile
        }
    }
}
