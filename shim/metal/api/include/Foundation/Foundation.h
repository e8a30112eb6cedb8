/*
 * A stand-in for <Foundation/Foundation.h>: the part of Foundation (and of the C headers it
 * brings) that shim/metal and the generated Metal.h use, declared as Apple documents it, so that
 * clang can type-check the shim without Apple's SDK (shim/metal/api/check.ts). Written for this
 * project; not Apple's header. A Foundation method the shim starts to use must be added here
 * first, which is the point: the check then fails rather than guessing.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The SDK this stands in for: metal-cpp's release (Xcode 26, macOS 26 SDK). The deployment
 * target (__ENVIRONMENT_MAC_OS_X_VERSION_MIN_REQUIRED__) comes from the -target triple. */
#define __MAC_OS_X_VERSION_MAX_ALLOWED 260000
#define __MAC_OS_X_VERSION_MIN_REQUIRED __ENVIRONMENT_MAC_OS_X_VERSION_MIN_REQUIRED__
#define __MAC_14_0 140000
#define __MAC_15_0 150000
#define __MAC_26_0 260000

/* API_AVAILABLE(macos(15.0)[, ios(18.0)...]): one availability attribute per platform. */
#define SHIM_AVAILABLE_macos(v) __attribute__((availability(macos, introduced = v)))
#define SHIM_AVAILABLE_ios(v) __attribute__((availability(ios, introduced = v)))
#define SHIM_AVAILABLE_ONE(p) SHIM_AVAILABLE_##p
#define SHIM_AVAILABLE_PICK(_1, _2, _3, NAME, ...) NAME
#define SHIM_AVAILABLE_1(a) SHIM_AVAILABLE_ONE(a)
#define SHIM_AVAILABLE_2(a, b) SHIM_AVAILABLE_ONE(a) SHIM_AVAILABLE_ONE(b)
#define SHIM_AVAILABLE_3(a, b, c) SHIM_AVAILABLE_ONE(a) SHIM_AVAILABLE_ONE(b) SHIM_AVAILABLE_ONE(c)
#define API_AVAILABLE(...) SHIM_AVAILABLE_PICK(__VA_ARGS__, SHIM_AVAILABLE_3, SHIM_AVAILABLE_2, SHIM_AVAILABLE_1)(__VA_ARGS__)

/* <objc/objc.h>, <objc/NSObjCRuntime.h> */
typedef bool BOOL;
#define nil ((void *)0)
#define Nil ((void *)0)
#define YES __objc_yes
#define NO __objc_no
typedef long NSInteger;
typedef unsigned long NSUInteger;
#define NSIntegerMax __LONG_MAX__
#define NSUIntegerMax (__LONG_MAX__ * 2UL + 1UL)
#define NS_ENUM(type, name) enum name : type name; enum name : type
#define NS_OPTIONS(type, name) enum __attribute__((flag_enum)) name : type name; enum __attribute__((flag_enum)) name : type
#define NS_FORMAT_FUNCTION(F, A) __attribute__((format(__NSString__, F, A)))
#define NS_RETURNS_RETAINED __attribute__((ns_returns_retained))
#define NS_INLINE static inline __attribute__((always_inline))
typedef double NSTimeInterval;
typedef double CFTimeInterval;
typedef const void *CFTypeRef;
typedef int kern_return_t;
typedef unsigned int task_id_token_t;
typedef struct __IOSurface *IOSurfaceRef;
/* libdispatch objects are Objective-C objects under ARC; opaque protocols are enough here. */
@protocol OS_dispatch_queue;
@protocol OS_dispatch_data;
typedef id<OS_dispatch_queue> dispatch_queue_t;
typedef id<OS_dispatch_data> dispatch_data_t;

/* <string.h> (shim/metal includes it; -nostdlibinc keeps the host's C library out) */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int strcmp(const char *a, const char *b);
size_t strlen(const char *s);

@class NSString, NSData, NSArray, NSDictionary, NSError, NSURL, NSNumber, NSBundle, NSSet, NSDate, NSValue;
@class NSEnumerator, NSProcessInfo, NSCondition, NSAutoreleasePool, NSNotification;
@protocol NSFastEnumeration;

/* <objc/NSObject.h> */
@protocol NSObject
- (BOOL)isEqual:(id)object;
- (NSUInteger)hash;
- (BOOL)respondsToSelector:(SEL)aSelector;
- (BOOL)conformsToProtocol:(Protocol *)aProtocol;
- (NSString *)description;
@end

__attribute__((objc_root_class))
@interface NSObject <NSObject>
+ (instancetype)alloc;
+ (instancetype)new;
- (instancetype)init;
@end

@protocol NSCopying
- (id)copyWithZone:(void *)zone;
@end

@protocol NSSecureCoding
@end

/* <Foundation/NSRange.h> */
typedef struct _NSRange {
  NSUInteger location;
  NSUInteger length;
} NSRange;
typedef NSRange *NSRangePointer;
NS_INLINE NSRange NSMakeRange(NSUInteger loc, NSUInteger len) {
  NSRange r = {loc, len};
  return r;
}

/* <Foundation/NSString.h> */
typedef NSUInteger NSStringEncoding;
enum { NSASCIIStringEncoding = 1, NSUTF8StringEncoding = 4 };
typedef NS_OPTIONS(NSUInteger, NSStringEncodingConversionOptions) {
  NSStringEncodingConversionAllowLossy = 1,
  NSStringEncodingConversionExternalRepresentation = 2,
};

@interface NSString : NSObject <NSCopying>
@property(readonly) NSUInteger length;
@property(readonly) const char *UTF8String;
+ (instancetype)stringWithUTF8String:(const char *)nullTerminatedCString;
+ (instancetype)stringWithFormat:(NSString *)format, ... NS_FORMAT_FUNCTION(1, 2);
- (instancetype)initWithBytes:(const void *)bytes length:(NSUInteger)len encoding:(NSStringEncoding)encoding;
- (instancetype)initWithFormat:(NSString *)format arguments:(va_list)argList NS_FORMAT_FUNCTION(1, 0);
- (BOOL)getBytes:(void *)buffer maxLength:(NSUInteger)maxBufferCount usedLength:(NSUInteger *)usedBufferCount
        encoding:(NSStringEncoding)encoding options:(NSStringEncodingConversionOptions)options
           range:(NSRange)range remainingRange:(NSRangePointer)leftover;
- (NSData *)dataUsingEncoding:(NSStringEncoding)encoding allowLossyConversion:(BOOL)lossy;
- (BOOL)isEqualToString:(NSString *)aString;
@end
typedef NSString *NSErrorDomain;
typedef NSString *NSExceptionName;

/* <Foundation/NSData.h> */
@interface NSData : NSObject <NSCopying>
@property(readonly) NSUInteger length;
@property(readonly) const void *bytes;
+ (instancetype)data;
+ (instancetype)dataWithData:(NSData *)data;
+ (instancetype)dataWithBytes:(const void *)bytes length:(NSUInteger)length;
@end

@interface NSMutableData : NSData
- (void)appendBytes:(const void *)bytes length:(NSUInteger)length;
@end

/* <Foundation/NSArray.h>, <Foundation/NSDictionary.h> */
@interface NSArray : NSObject <NSCopying>
@property(readonly) NSUInteger count;
@property(readonly) id firstObject;
- (id)objectAtIndex:(NSUInteger)index;
- (BOOL)containsObject:(id)anObject;
@end

@interface NSDictionary : NSObject <NSCopying>
@property(readonly) NSUInteger count;
- (id)objectForKey:(id)aKey;
@end

/* <Foundation/NSError.h>, <Foundation/NSException.h> */
@interface NSError : NSObject <NSCopying>
@property(readonly, copy) NSErrorDomain domain;
@property(readonly) NSInteger code;
@property(readonly, copy) NSString *localizedDescription;
@end

@interface NSException : NSObject <NSCopying>
@property(readonly, copy) NSExceptionName name;
@property(readonly, copy) NSString *reason;
@end

/* <Foundation/NSURL.h> */
@interface NSURL : NSObject <NSCopying>
+ (NSURL *)fileURLWithPath:(NSString *)path;
@property(readonly, copy) NSString *path;
@end

/* Classes metal-cpp's signatures name, never messaged by the shim. */
@interface NSNumber : NSObject @end
@interface NSBundle : NSObject @end
@interface NSSet : NSObject @end
@interface NSDate : NSObject @end
@interface NSValue : NSObject @end
@interface NSEnumerator : NSObject @end
@interface NSProcessInfo : NSObject @end
@interface NSCondition : NSObject @end
@interface NSAutoreleasePool : NSObject @end
@interface NSNotification : NSObject @end
@protocol NSFastEnumeration @end

/* <CoreFoundation/CFBase.h> bridging (ARC) */
NS_INLINE id CFBridgingRelease(CFTypeRef X) { return (__bridge_transfer id)X; }
NS_INLINE CFTypeRef CFBridgingRetain(id X) { return (__bridge_retained CFTypeRef)X; }
