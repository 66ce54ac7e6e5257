import TanbaCore
