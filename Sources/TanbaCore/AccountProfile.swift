import Foundation

/// A user's application data [LEX appendix 5]: who an operator or official account is for.
/// Shared by the store (accounts table, sealed) and the access layer (applications, sealed).
public struct AccountProfile: Sendable, Equatable, Codable {
    public var fullName: String
    public var iin: String
    public var organisation: String
    public var unit: String
    public var position: String
    public var contacts: String
    public init(fullName: String, iin: IIN, organisation: String, unit: String, position: String, contacts: String) {
        self.fullName = fullName
        self.iin = iin.digits
        self.organisation = organisation
        self.unit = unit
        self.position = position
        self.contacts = contacts
    }
}
