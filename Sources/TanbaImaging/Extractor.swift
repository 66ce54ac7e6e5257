import CTanbaFPrint
import TanbaCore
