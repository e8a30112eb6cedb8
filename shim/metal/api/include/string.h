/* A stand-in for <string.h>: Foundation.h (next to this file) declares what the shim uses. */
#pragma once
#import <Foundation/Foundation.h>
