#include <png.h>
#include <tiffio.h>
#include <turbojpeg.h>
